# frozen_string_literal: true

# Serves Rails' own Action Cable browser client (the UMD build that ships inside the
# actioncable gem) so the app needs no Node build and no asset pipeline.
class ActionCableClientController < ActionController::Base
  SOURCE = Dir[File.join(Gem.loaded_specs.fetch("actioncable").full_gem_path,
                         "app/assets/javascripts/{action_cable,actioncable}.js")].min

  # A public library, not a response carrying user data: cross-origin <script> use is fine.
  skip_forgery_protection

  def show
    expires_in 1.hour, public: true
    send_file SOURCE, type: "text/javascript", disposition: "inline"
  end
end
