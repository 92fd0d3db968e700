# frozen_string_literal: true

# Headless Debian Chromium through Selenium for system specs. Fails loudly when the browser
# or its driver is missing (bin/test installs them).
CHROMIUM = ENV.fetch("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = ENV.fetch("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

Capybara.register_driver :headless_chromium do |app|
  [CHROMIUM, CHROMEDRIVER].each do |bin|
    raise "#{bin} is missing: run `sudo apt-get install chromium chromium-driver` (bin/test does)" unless File.executable?(bin)
  end
  options = Selenium::WebDriver::Chrome::Options.new
  options.binary = CHROMIUM
  %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking
     --disable-component-update --disable-sync --no-first-run --window-size=1200,900].each { |arg| options.add_argument(arg) }
  service = Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER)
  Capybara::Selenium::Driver.new(app, browser: :chrome, options: options, service: service)
end

Capybara.default_max_wait_time = 5

RSpec.configure do |config|
  config.before(type: :system) { driven_by :headless_chromium }
end
