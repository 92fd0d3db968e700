# frozen_string_literal: true

# stream_from (feeds), stream_for (a topic), stop_stream_from and broadcasts of each kind of
# payload. Feeds stream from "feed:<name>"; a topic from "streams:topic-<name>".
class StreamsChannel < ApplicationCable::Channel
  # A model-like object: stream_for names its stream after to_gid_param. Not a Struct: Rails
  # 8.1's broadcasting_for takes `Array(model)`, which turns a Struct into its values.
  class Topic
    def initialize(name)
      @name = name
    end

    def to_gid_param
      "topic-#{@name}"
    end
  end

  PAYLOADS = {
    "hash" => { "text" => "hello", "n" => 1, "nested" => { "list" => [1, "two", nil] } },
    "html" => "<p class=\"msg\">Hello &amp; welcome</p>",
    "json_string" => '{"a":1}'
  }.freeze

  def subscribed
    Array(params[:feeds]).each { |name| stream_from "feed:#{name}" }
    stream_for Topic.new(params[:topic]) if params[:topic]
  end

  # Acknowledges, as commands may run concurrently under stock Action Cable.
  def stop(data)
    stop_stream_from "feed:#{data["feed"]}"
    transmit({ "stopped" => data["feed"] })
  end

  # Broadcasts PAYLOADS[kind] (or `message`) to a feed or to a topic.
  def broadcast(data)
    message = data.key?("kind") ? PAYLOADS.fetch(data["kind"]) : data["message"]
    if data["topic"]
      self.class.broadcast_to(Topic.new(data["topic"]), message)
    else
      ActionCable.server.broadcast("feed:#{data["feed"]}", message)
    end
  end

  def unsubscribed
    log({ "event" => "unsubscribed", "tag" => params[:tag] })
  end
end
