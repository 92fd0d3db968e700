# frozen_string_literal: true

require "anycable/rs/config_reference"

RSpec.describe AnyCable::RS::ConfigReference do
  let(:entry) do
    { "key" => "ping_interval", "env" => "ANYCABLE_PING_INTERVAL", "default" => 3,
      "description" => "Seconds between pings.", "secret" => false }
  end

  describe "docs/configuration.md" do
    path = File.join(ROOT, "docs", "configuration.md")

    it "lists every setting as AnyCable::RS::Config.reference describes it" do
      text = File.read(path)
      expected = described_class.replace(text, described_class.render(AnyCable::RS::Config.reference))
      next if text == expected

      line = text.lines.zip(expected.lines).index { |have, want| have != want }
      raise RSpec::Expectations::ExpectationNotMetError,
            "docs/configuration.md is out of date; run rake docs:config\n" \
            "(first difference at line #{line + 1}: expected #{expected.lines[line].inspect}, " \
            "found #{text.lines[line].inspect})"
    end

    it "covers every key of AnyCable::RS::Config" do
      expect(AnyCable::RS::Config.reference.map { |e| e["key"] }).to match_array(AnyCable::RS::Config.keys)
    end
  end

  describe ".render" do
    def rendered_row(overrides)
      described_class.render([entry.merge(overrides)]).lines[4].chomp
    end

    it "writes a table between the markers" do
      lines = described_class.render([entry]).lines.map(&:chomp)
      expect(lines.first).to eq(described_class::BEGIN_MARK)
      expect(lines.last).to eq(described_class::END_MARK)
      expect(lines).to include("| `ping_interval` | `ANYCABLE_PING_INTERVAL` | `3` | Seconds between pings. |")
    end

    it "shows unset, empty and list defaults" do
      expect(rendered_row("default" => nil)).to include("| *unset* |")
      expect(rendered_row("default" => [])).to include("| *empty* |")
      expect(rendered_row("default" => "")).to include("| *empty* |")
      expect(rendered_row("default" => %w[cookie authorization])).to include("| `cookie,authorization` |")
      expect(rendered_row("default" => false)).to include("| `false` |")
    end

    it "marks secrets and keeps table cells intact" do
      row = rendered_row("secret" => true, "description" => "A | B\nC.")
      expect(row).to end_with("| A \\| B C. Secret: never logged, shown as `[FILTERED]`. |")
    end

    it "lists every variable of a setting read from several" do
      expect(rendered_row("env" => %w[ANYCABLE_REDIS_URL REDIS_URL])).to include("| `ANYCABLE_REDIS_URL` or `REDIS_URL` |")
    end

    it "names what an incomplete entry lacks" do
      expect { described_class.render([entry.except("default", "secret")]) }
        .to raise_error(ArgumentError, /lacks default, secret/)
    end
  end

  describe ".replace" do
    let(:generated) { described_class.render([entry]) }

    it "replaces only the generated part" do
      text = "# Intro\n\n#{described_class::BEGIN_MARK}\nold\n#{described_class::END_MARK}\n\nOutro\n"
      expect(described_class.replace(text, generated)).to eq("# Intro\n\n#{generated}\n\nOutro\n")
    end

    it "refuses a file without one pair of markers in order" do
      begin_mark = described_class::BEGIN_MARK
      end_mark = described_class::END_MARK
      ["no markers", "#{end_mark}\n#{begin_mark}", "#{begin_mark}\n#{end_mark}\n#{begin_mark}\n#{end_mark}"].each do |text|
        expect { described_class.replace(text, generated) }.to raise_error(ArgumentError, /expected one/)
      end
    end
  end
end
