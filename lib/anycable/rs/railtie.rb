# frozen_string_literal: true

module AnyCable
  module RS
    # Rails integration: logs to Rails.logger, runs the app's channels through the in-process
    # handler, and with `config.anycable_rs.mount = true` serves Action Cable's mount path
    # (`config.action_cable.mount_path`, "/cable" by default) with anycable-rs instead of
    # Action Cable's own server.
    class Railtie < ::Rails::Railtie
      config.anycable_rs = ActiveSupport::OrderedOptions.new
      config.anycable_rs.mount = false

      initializer "anycable_rs.logger" do
        AnyCable::RS.logger = ::Rails.logger if ::Rails.logger
      end

      initializer "anycable_rs.mount", before: "action_cable.routes" do |app|
        next unless app.config.anycable_rs.mount

        path = app.config.action_cable.mount_path || AnyCable::RS.config.path
        app.config.action_cable.mount_path = nil # Action Cable's server is not mounted
        app.config.after_initialize do
          app.routes.prepend { mount AnyCable::RS.server => path, internal: true, anchor: true }
        end
      end
    end
  end
end
