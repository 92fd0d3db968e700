# frozen_string_literal: true

# The Rails of this repository's bundles (the gem's, test-app's, the integration app's), read
# with `eval_gemfile`: the system's Rails (Debian packages Rails 6.1 to 7.2), or, when
# ANYCABLE_RS_RAILS_PATH names a Rails source tree, its components from there. bin/sid sets it
# to Rails 8.1.3 in ../shared/vendor, which Debian does not package; a user's clone has no
# ../shared and never needs it.
if (rails_tree = ENV.fetch("ANYCABLE_RS_RAILS_PATH", nil))
  path rails_tree do
    %w[activesupport activemodel activejob actionpack actionview actioncable railties].each do |name|
      gem name, require: false # each app requires the parts it uses (`require "rails"`, ...)
    end
  end
  # Rails 8.1.3's ActiveSupport::JSON.decode hands its options to JSON.parse as a positional
  # Hash, which json 3 rejects (ArgumentError on every decode, Action Cable's own included).
  gem "json", "< 3"
else
  gem "rails", ">= 6.1", "< 9"
end
