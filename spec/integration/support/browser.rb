# frozen_string_literal: true

require "selenium-webdriver"

module IntegrationSupport
  # A headless Debian Chromium page through Selenium (the flags of test-app/spec/support/chromium.rb).
  # Fails loudly when the browser or its driver is missing (bin/test installs them).
  class Browser
    CHROMIUM = ENV.fetch("CHROMIUM_BIN", "/usr/bin/chromium")
    CHROMEDRIVER = ENV.fetch("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
    FLAGS = %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking
               --disable-component-update --disable-sync --no-first-run --window-size=1000,700].freeze

    attr_reader :driver

    def initialize
      [CHROMIUM, CHROMEDRIVER].each do |bin|
        next if File.executable?(bin)

        raise "#{bin} is missing: run `sudo apt-get install chromium chromium-driver` (bin/test does)"
      end
      options = Selenium::WebDriver::Chrome::Options.new
      options.binary = CHROMIUM
      FLAGS.each { |flag| options.add_argument(flag) }
      @driver = Selenium::WebDriver.for(:chrome, options: options,
                                                 service: Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER))
    end

    def visit(url)
      driver.navigate.to(url)
    end

    # Waits up to `timeout` seconds for the block to return a truthy value, and returns it.
    def wait_until(description, timeout: 10, &block)
      Selenium::WebDriver::Wait.new(timeout: timeout, interval: 0.05).until(&block)
    rescue Selenium::WebDriver::Error::TimeoutError
      raise "#{description}: not within #{timeout} s; page: #{driver.page_source[0, 2000]}"
    end

    def quit
      driver.quit
    end
  end
end
