# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # AnyCable's Rails gem (anycable-rails) loaded in the same app, as apps moving from
      # anycable-go keep it for its helpers. Who owns what (docs/anycable-go.md):
      #
      # - anycable-rs owns the channel and connection API of the connections it serves
      #   (`state_attr_accessor`, streams, identifiers, transmissions); anycable-rails' versions
      #   still serve any connection its own RPC server would build.
      # - `AnyCable::Rails.enabled?` is true while anycable-rs serves the app's WebSockets,
      #   since AnyCable's protocol then serves them.
      # - anycable-rails' embedded RPC server (`embedded: true`, ANYCABLE_EMBEDDED) never starts:
      #   anycable-rs runs the channels itself.
      module WithAnyCableRails
        # Prepended to AnyCable::Rails' singleton class.
        module Enabled
          def enabled?
            WithAnyCableRails.serving? || super
          end
        end

        class << self
          def loaded?
            defined?(::AnyCable::Rails::Railtie) ? true : false
          end

          # Whether anycable-rs answers this app's WebSockets: it takes over Action Cable's mount
          # path, cable.yml names its adapter, or its server was mounted (built) already.
          def serving?
            app = ::Rails.application
            return true if app&.config.respond_to?(:anycable_rs) && app.config.anycable_rs.mount
            return true if AnyCable::RS.server_built?

            defined?(::ActionCable.server) && ::ActionCable.server.config.cable&.fetch("adapter", nil).to_s == "anycable_rs"
          end

          # Before anycable-rails' initializers ask `enabled?`.
          def install!
            ::AnyCable::Rails.singleton_class.prepend(Enabled) unless ::AnyCable::Rails.singleton_class <= Enabled
          end

          # After initialization, when anycable-rails' settings are loaded.
          def keep_embedded_server_off!(logger)
            return unless ::AnyCable.config.embedded?

            ::AnyCable.config.embedded = false
            logger&.info("anycable-rs serves this app's WebSockets: anycable-rails' embedded RPC server " \
                         "(ANYCABLE_EMBEDDED) stays off")
          end
        end
      end
    end
  end
end
