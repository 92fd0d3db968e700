# frozen_string_literal: true

require "json"
require "rails/generators"

module AnyCable
  module RS
    module Generators
      # `bin/rails g anycable:rs:install`: the changes of the README's "Using it in a Rails app"
      # (docs/quick-start.md), each made only when it is missing, so running it again changes
      # nothing:
      #
      # - config/application.rb: `config.anycable_rs.mount = true`, which serves Action Cable's
      #   mount path (/cable) with anycable-rs from the top of the middleware stack (and turns
      #   Action Cable's own mount off);
      # - config/routes.rb: a `mount ActionCable.server => "/cable"` is commented out;
      # - config/cable.yml: `adapter: anycable_rs` for development, test and production (the
      #   file is created when missing; other keys and sections are kept);
      # - config/anycable.yml: every setting with its default and what it does, all commented out
      #   (an existing file is left alone).
      #
      # An app that mounts `AnyCable::RS.server` in its routes already (the way of earlier
      # versions) is left as it is, with a note: the route works, the middleware is faster when
      # every client reconnects at once (docs/hotwire.md, "The reconnect storm").
      class InstallGenerator < ::Rails::Generators::Base
        namespace "anycable:rs:install"
        source_root File.expand_path("templates", __dir__)
        desc "Serves Action Cable's WebSockets with anycable-rs in this app's own Puma: sets " \
             "config.anycable_rs.mount = true (anycable-rs answers /cable), sets adapter: anycable_rs " \
             "in config/cable.yml and writes a commented config/anycable.yml."

        MOUNT_PATH = "/cable"
        ENVIRONMENTS = %w[development test production].freeze
        ADAPTER = "anycable_rs"
        DOCS = "https://github.com/anycable-rs/anycable-rs/blob/main/docs"

        def serve_cable_path
          if self_mounted?
            say_status :identical, "config/application.rb: config.anycable_rs.mount = true", :blue
          elsif routes_mounted?
            say_status :skip, "config/routes.rb mounts AnyCable::RS.server: kept. config.anycable_rs.mount = true " \
                              "(instead of the route) serves #{MOUNT_PATH} before the app's middleware, faster when " \
                              "every client reconnects at once: #{DOCS}/hotwire.md", :yellow
          else
            environment "# anycable-rs serves Action Cable's mount path (#{MOUNT_PATH}) from the top of the middleware " \
                        "stack: Action Cable's own server is not mounted.\nconfig.anycable_rs.mount = true"
          end
        end

        def retire_action_cable_route
          return if routes_mounted? || !read("config/routes.rb").match?(action_cable_mount)

          gsub_file "config/routes.rb", action_cable_mount,
                    "\\1# \\2  # served by anycable-rs (config.anycable_rs.mount = true in config/application.rb)"
        end

        def set_cable_adapter
          path = "config/cable.yml"
          unless File.exist?(File.join(destination_root, path))
            template "cable.yml.tt", path
            return
          end

          updated = self.class.with_adapter(read(path), ADAPTER, ENVIRONMENTS)
          if updated == read(path)
            say_status :identical, "#{path}: adapter: #{ADAPTER}", :blue
          else
            say_status :update, "#{path}: adapter: #{ADAPTER} (#{ENVIRONMENTS.join(", ")})", :green
            File.write(File.join(destination_root, path), updated) unless options[:pretend]
          end
        end

        def create_settings_file
          path = "config/anycable.yml"
          if File.exist?(File.join(destination_root, path))
            say_status :skip, "#{path} exists", :blue
          else
            template "anycable.yml.tt", path
          end
        end

        def next_steps
          say <<~TEXT

            anycable-rs serves WebSockets at #{MOUNT_PATH} from this app's own Puma. Next:
              - Start the app as usual (bin/rails server, or bundle exec puma -C config/puma.rb): nothing else to run.
              - For broadcasts to reach every Puma worker, dyno, console and job worker, add the redis gem
                and set ANYCABLE_BROADCAST_ADAPTER=redis with REDIS_URL.
              - Settings: config/anycable.yml (all commented out; the defaults work) or ANYCABLE_* variables.
                Keep secrets in the environment, not in the file.
              - Docs: #{DOCS}/quick-start.md
          TEXT
        end

        # Keys of Action Cable's other adapters that mean nothing to anycable_rs (its Redis is
        # `redis_url` / REDIS_URL).
        STALE_KEY = /\A(\s+)(url|channel_prefix):/

        # `text` (a cable.yml) with `adapter: <adapter>` in each section of `environments`: an
        # adapter line of the section is replaced, a section without one gets it first, a missing
        # section is appended; the section's `url:` and `channel_prefix:` lines are commented out.
        # Comments, ERB, anchors and the other keys stay as they are.
        def self.with_adapter(text, adapter, environments)
          lines = text.lines
          lines[-1] = "#{lines[-1]}\n" if lines.any? && !lines[-1].end_with?("\n")
          environments.each do |env|
            header = lines.index { |line| line.match?(/\A#{Regexp.escape(env)}:(\s+&\S+)?\s*(#.*)?\n\z/) }
            if header.nil?
              lines << "\n" unless lines.empty? || lines[-1].strip.empty?
              lines.push("#{env}:\n", "  adapter: #{adapter}\n")
              next
            end
            body = ((header + 1)...lines.size).take_while { |i| lines[i].match?(/\A(\s|#|\n)/) }
            body.each do |i|
              next unless (key = lines[i][STALE_KEY, 2])

              lines[i] = lines[i].sub(STALE_KEY) { "#{Regexp.last_match(1)}# #{key}:" }
                                 .sub(/\n\z/, "  # unused by adapter: #{adapter}\n")
            end
            found = body.find { |i| lines[i].match?(/\A\s+adapter:/) }
            if found
              lines[found] = lines[found].sub(/\A(\s+)adapter:.*$/) { "#{Regexp.last_match(1)}adapter: #{adapter}" }
            else
              indent = body.map { |i| lines[i][/\A */] }.find { |s| !s.empty? } || "  "
              lines.insert(header + 1, "#{indent}adapter: #{adapter}\n")
            end
          end
          lines.join
        end

        # The settings config/anycable.yml lists: [key, default (nil: unset), description, secret?].
        def self.settings
          require "anycable/rs"
          AnyCable::RS::Config.reference.map { |e| e.values_at("key", "default", "description", "secret") }
        end

        # The commented lines of one setting for config/anycable.yml, indented by two spaces.
        def self.setting_lines(key, default, description, secret)
          words = description.split
          words += ["Set", "ANYCABLE_#{key.upcase}", "where", "the", "app", "runs", "rather", "than", "here."] if secret
          lines = words.each_with_object([+""]) do |word, acc|
            acc << +"" if !acc.last.empty? && acc.last.size + word.size > 92
            acc.last << " " unless acc.last.empty?
            acc.last << word
          end
          lines = lines.reject(&:empty?).map { |line| "  # #{line}" }
          value = default.nil? || secret ? "" : " #{JSON.generate(default)}"
          [*lines, "  # #{key}:#{value}"].join("\n")
        end

        private

        def read(path)
          full = File.join(destination_root, path)
          File.exist?(full) ? File.read(full) : ""
        end

        def self_mounted?
          read("config/application.rb").match?(/^\s*config\.anycable_rs\.mount\s*=\s*true\b/)
        end

        def routes_mounted?
          read("config/routes.rb").match?(/^\s*mount\s+AnyCable::RS\.server\b/)
        end

        def action_cable_mount
          /^(\s*)(mount\s+ActionCable\.server\s*=>\s*["']#{Regexp.escape(MOUNT_PATH)}["'].*)$/
        end
      end
    end
  end
end
