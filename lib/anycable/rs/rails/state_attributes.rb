# frozen_string_literal: true

module AnyCable
  module RS
    module Rails
      # `state_attr_accessor :room, :joined_at` for channels (and connections): attributes that
      # survive between calls. Under the RPC handler their values live in istate (cstate for a
      # connection) and are restored on the next call; under stock Action Cable, whose objects live
      # as long as the subscription, they are plain instance-variable accessors.
      #
      # A value is saved when it is assigned during a call (as it is at the end of the call); a value
      # that is only read and then mutated in place is not: assign it again to keep the change.
      #
      # Prepended to the singleton classes of Channel::Base and Connection::Base, so it is the
      # `state_attr_accessor` a class calls even when AnyCable's Rails gem (anycable-rails) adds
      # its own, in whatever order the two load (WithAnyCableRails): that one runs too, and its
      # accessors still serve the objects anycable-rs does not (anycable-rails' own RPC server).
      module StateAttributes
        def state_attr_accessor(*names)
          super if defined?(super)
          (@state_attributes ||= []).concat(names.map(&:to_s))
          accessors = anycable_rs_state_accessors
          names.each do |name|
            ivar = :"@#{name}"

            accessors.define_method(name) do
              state = anycable_rs_state
              return defined?(super) ? super() : instance_variable_get(ivar) if state.nil?

              instance_variable_set(ivar, state.read(name)) unless instance_variable_defined?(ivar)
              instance_variable_get(ivar)
            end

            accessors.define_method(:"#{name}=") do |value|
              state = anycable_rs_state
              return defined?(super) ? super(value) : instance_variable_set(ivar, value) if state.nil?

              state.write(name, value)
              instance_variable_set(ivar, value)
            end
          end
        end

        # Names declared with state_attr_accessor by this class and its ancestors.
        def state_attributes
          inherited = superclass.respond_to?(:state_attributes) ? superclass.state_attributes : []
          inherited + (@state_attributes || [])
        end

        private

        # The module, prepended to this class, that holds its state accessors (in front of any
        # the class body or anycable-rails defines).
        def anycable_rs_state_accessors
          @anycable_rs_state_accessors ||= Module.new.tap { |accessors| prepend(accessors) }
        end
      end
    end
  end
end
