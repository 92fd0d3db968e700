# frozen_string_literal: true

module AnyCable
  module RS
    # Loads the compiled Rust extension (anycable_rs.so), which defines AnyCable::RS::Native.
    #
    # A precompiled gem (and `rake compile` in a checkout) carries one build per Ruby minor
    # version under lib/anycable/rs/<major.minor>/; a source install of the gem puts its build
    # at lib/anycable/rs/anycable_rs.so. The first one found wins.
    module NativeLoader
      PRECOMPILED = "anycable/rs/#{RUBY_VERSION[/\A\d+\.\d+/]}/anycable_rs".freeze
      SOURCE_BUILT = "anycable/rs/anycable_rs"

      HINT = <<~MSG.freeze
        anycable-rs: the native extension (anycable_rs.so) is not built for Ruby #{RUBY_VERSION}.
          In a checkout of anycable-rs run:  bundle exec rake compile
          For an installed gem run:          gem pristine anycable-rs   (needs cargo: https://rustup.rs)
      MSG

      def self.load!
        require PRECOMPILED
      rescue LoadError => e
        raise unless missing?(e, PRECOMPILED)

        begin
          require SOURCE_BUILT
        rescue LoadError => e
          raise unless missing?(e, SOURCE_BUILT)

          raise LoadError, HINT
        end
      end

      # True when `error` says the file is absent, not that it failed to load (a broken build
      # must surface its own message, not be masked by the hint).
      def self.missing?(error, feature)
        error.path == feature || error.message.end_with?("-- #{feature}")
      end
    end

    NativeLoader.load!
  end
end
