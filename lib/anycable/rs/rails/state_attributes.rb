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
      module StateAttributes
        def state_attr_accessor(*names)
          (@state_attributes ||= []).concat(names.map(&:to_s))
          names.each do |name|
            ivar = :"@#{name}"

            define_method(name) do
              state = anycable_rs_state
              instance_variable_set(ivar, state.read(name)) if state && !instance_variable_defined?(ivar)
              instance_variable_get(ivar)
            end

            define_method(:"#{name}=") do |value|
              anycable_rs_state&.write(name, value)
              instance_variable_set(ivar, value)
            end
          end
        end

        # Names declared with state_attr_accessor by this class and its ancestors.
        def state_attributes
          inherited = superclass.respond_to?(:state_attributes) ? superclass.state_attributes : []
          inherited + (@state_attributes || [])
        end
      end
    end
  end
end
