# frozen_string_literal: true

# Turbo Streams with the real turbo-rails (spec/integration/turbo_spec.rb): a room page that
# subscribes with `turbo_stream_from`, a form whose message every open page of the room gets
# appended, and the signed names a WebSocket client needs.
class RoomsController < ApplicationController
  skip_forgery_protection

  # GET /rooms/:id?user=name: the page, with turbo-rails' own turbo.js; the user's cookie is
  # what its WebSocket connection is identified by.
  def show
    cookies[:user] = params.fetch(:user, "browser")
    @room = Room.find(params[:id])
  end

  # POST /rooms/:id/messages: appends the message to every page of the room (Turbo::Broadcastable).
  def create_message
    message = Message.new(id: SecureRandom.hex(4), room: Room.find(params[:id]), body: params.require(:body))
    message.broadcast_append_to(message.room)
    head :no_content
  end

  # GET /rooms/:id/signed: the names a client subscribes with, as the page's tags carry them.
  def signed
    room = Room.find(params[:id])
    names = { "stream" => room.to_gid_param, "turbo" => Turbo::StreamsChannel.signed_stream_name(room) }
    names["pubsub"] = AnyCable::Streams.signed("room:#{room.id}") if defined?(AnyCable::Streams) && pubsub_key?
    render json: names
  end

  # GET /turbo.js: turbo-rails' browser client (an ES module that brings Action Cable's).
  def turbo_js
    send_file Turbo::Engine.root.join("app/assets/javascripts/turbo.js"), type: "text/javascript", disposition: "inline"
  end

  private

  # AnyCable's signed names need streams_secret (or secret).
  def pubsub_key?
    AnyCable::RS.config.streams_secret || AnyCable::RS.config.secret
  end
end
