# frozen_string_literal: true

namespace :docs do
  desc "Regenerate the settings table of docs/configuration.md from AnyCable::RS::Config.reference"
  task config: :compile do
    $LOAD_PATH.unshift(File.join(ROOT, "lib"))
    require "anycable/rs"
    require "anycable/rs/config_reference"

    path = File.join(ROOT, "docs", "configuration.md")
    reference = AnyCable::RS::ConfigReference
    text = File.read(path)
    updated = reference.replace(text, reference.render(AnyCable::RS::Config.reference))
    if updated == text
      puts "#{path} is up to date"
    else
      File.write(path, updated)
      puts "#{path} updated"
    end
  end
end
