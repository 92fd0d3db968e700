# frozen_string_literal: true

# Pick a name and a room (index, join), then chat in the room (show). The name is kept in an
# encrypted cookie, which is also how ApplicationCable::Connection knows who is connecting.
class RoomsController < ApplicationController
  ROOM = /\A[\w-]{1,40}\z/

  def index
    @room = params[:room].presence || "lobby"
  end

  def join
    name = params[:name].to_s.strip.first(40)
    room = params[:room].to_s.strip
    if name.empty? || !ROOM.match?(room)
      return redirect_to(root_path(room: room), alert: "Pick a name and a room (letters, digits, - and _).")
    end

    cookies.encrypted[:user_name] = { value: name, httponly: true, same_site: :lax }
    redirect_to room_path(room)
  end

  def show
    @room = params[:room]
    redirect_to root_path(room: @room) unless current_user
  end
end
