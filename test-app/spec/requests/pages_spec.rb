# frozen_string_literal: true

RSpec.describe "Pages", type: :request do
  it "serves the join form" do
    get "/"
    expect(response).to have_http_status(:ok)
    expect(response.body).to include("Your name", 'name="action-cable-url" content="/cable"')
  end

  it "serves Rails' Action Cable client without a Node build" do
    get "/action_cable.js"
    expect(response).to have_http_status(:ok)
    expect(response.media_type).to eq("text/javascript")
    expect(response.body).to include("createConsumer")
  end

  it "keeps the chatter's name in an encrypted cookie and sends strangers back to the form" do
    get "/rooms/lobby"
    expect(response).to redirect_to("/?room=lobby")
    post "/join", params: { name: "alice", room: "lobby" }
    expect(response).to redirect_to("/rooms/lobby")
    expect(cookies[:user_name]).to be_present
    expect(cookies[:user_name]).not_to include("alice")
    get "/rooms/lobby"
    expect(response.body).to include('data-room="lobby"', ">alice<")
  end

  it "refuses a bad room name" do
    post "/join", params: { name: "alice", room: "../etc" }
    expect(response).to redirect_to("/?room=..%2Fetc")
  end
end
