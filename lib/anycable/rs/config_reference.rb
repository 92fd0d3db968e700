# frozen_string_literal: true

module AnyCable
  module RS
    # Renders the settings table of docs/configuration.md from Config.reference, so the page
    # cannot drift from the code: `rake docs:config` rewrites the part between BEGIN and END,
    # and spec/anycable_rs/config_reference_spec.rb fails when the file differs from what this
    # renders. Not loaded by `require "anycable/rs"`.
    module ConfigReference
      BEGIN_MARK = "<!-- BEGIN generated: rake docs:config -->"
      END_MARK = "<!-- END generated -->"
      FIELDS = %w[key env default description secret].freeze
      HEADER = [
        "| setting | environment variable | default | what it does |",
        "|---|---|---|---|"
      ].freeze

      class << self
        # The generated part (markers included) for `reference`: Config.reference's entries,
        # Hashes with the String keys of FIELDS, in documentation order.
        def render(reference)
          rows = reference.map { |entry| row(check(entry)) }
          [BEGIN_MARK, "", *HEADER, *rows, "", END_MARK].join("\n")
        end

        # `text` with its generated part replaced by `generated`. Raises ArgumentError when
        # the markers are missing, repeated or out of order.
        def replace(text, generated)
          first = text.index(BEGIN_MARK)
          last = text.index(END_MARK)
          if first.nil? || last.nil? || last < first || text.scan(BEGIN_MARK).size > 1 || text.scan(END_MARK).size > 1
            raise ArgumentError, "expected one #{BEGIN_MARK} line followed by one #{END_MARK} line"
          end

          text[0...first] + generated + text[(last + END_MARK.size)..]
        end

        private

        def check(entry)
          missing = FIELDS.reject { |field| entry.key?(field) }
          raise ArgumentError, "reference entry #{entry.inspect} lacks #{missing.join(", ")}" unless missing.empty?

          entry
        end

        def row(entry)
          description = entry["description"].to_s.strip
          description += " Secret: never logged, shown as `[FILTERED]`." if entry["secret"]
          cells = [code(entry["key"]), Array(entry["env"]).map { |name| code(name) }.join(" or "),
                   default(entry["default"]), description]
          "| #{cells.map { |cell| cell.gsub("|", "\\|").gsub("\n", " ") }.join(" | ")} |"
        end

        def default(value)
          case value
          when nil then "*unset*"
          when Array then value.empty? ? "*empty*" : code(value.join(","))
          when "" then "*empty*"
          else code(value)
          end
        end

        def code(value)
          "`#{value}`"
        end
      end
    end
  end
end
