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
      # - config/routes.rb: `mount AnyCable::RS.server => "/cable"` (a `mount ActionCable.server`
      #   of that path is replaced);
      # - config/application.rb: `config.action_cable.mount_path = nil`;
      # - config/cable.yml: `adapter: anycable_rs` for development, test and production (the
      #   file is created when missing; other keys and sections are kept);
      # - config/anycable.yml: every setting with its default and what it does, all commented out
      #   (an existing file is left alone).
      #
      # An app that sets `config.anycable_rs.mount = true` already serves its cable path with
      # anycable-rs: routes.rb and application.rb are left alone then.
      class InstallGenerator < ::Rails::Generators::Base
        namespace "anycable:rs:install"
        source_root File.expand_path("templates", __dir__)
        desc "Serves Action Cable's WebSockets with anycable-rs in this app's own Puma: mounts " \
             "AnyCable::RS.server at /cable, turns Action Cable's mount off, sets adapter: anycable_rs " \
             "in config/cable.yml and writes a commented config/anycable.yml."

        MOUNT_PATH = "/cable"
        MOUNT = %(mount AnyCable::RS.server => "#{MOUNT_PATH}").freeze
        ENVIRONMENTS = %w[development test production].freeze
        ADAPTER = "anycable_rs"
        DOCS = "https://github.com/anycable-rs/anycable-rs/blob/main/docs"

        def mount_server
          if self_mounted?
            say_status :skip, "config/routes.rb: config.anycable_rs.mount = true serves #{MOUNT_PATH}", :blue
          elsif read("config/routes.rb").include?("AnyCable::RS.server")
            say_status :identical, "config/routes.rb: AnyCable::RS.server is mounted", :blue
          elsif read("config/routes.rb").match?(action_cable_mount)
            gsub_file "config/routes.rb", action_cable_mount, "\\1#{MOUNT}"
          else
            route MOUNT
          end
        end

        def turn_off_action_cable_mount
          application = read("config/application.rb")
          if self_mounted?
            say_status :skip, "config/application.rb: config.anycable_rs.mount = true", :blue
          elsif application.match?(/^\s*config\.action_cable\.mount_path\s*=\s*nil\b/)
            say_status :identical, "config/application.rb: config.action_cable.mount_path = nil", :blue
          elsif application.match?(/^\s*config\.action_cable\.mount_path\s*=/)
            say_status :conflict, "config/application.rb sets config.action_cable.mount_path: make it nil " \
                                  "(anycable-rs serves #{MOUNT_PATH})", :red
          else
            environment "# anycable-rs serves #{MOUNT_PATH} (config/routes.rb): Action Cable's own server " \
                        "is not mounted.\nconfig.action_cable.mount_path = nil"
          end
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
          return unless meta_tag_layout && !read("config/application.rb").include?("config.action_cable.url")

          say "  - #{meta_tag_layout} calls action_cable_meta_tag: add config.action_cable.url = " \
              "\"#{MOUNT_PATH}\" to config/application.rb (Action Cable has no mount path to print).", :yellow
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

        def action_cable_mount
          /^(\s*)mount\s+ActionCable\.server\s*=>\s*["']#{Regexp.escape(MOUNT_PATH)}["'].*$/
        end

        def meta_tag_layout
          @meta_tag_layout ||= Dir[File.join(destination_root, "app/views/layouts/*")].find do |file|
            File.file?(file) && File.read(file).include?("action_cable_meta_tag")
          end&.delete_prefix("#{destination_root}/")
        end
      end
    end
  end
end
