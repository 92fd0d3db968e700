# frozen_string_literal: true

RSpec.describe "Chat", type: :system do
  def join(name, room)
    visit root_path
    fill_in "Your name", with: name
    fill_in "Room", with: room
    click_button "Join"
    expect(page).to have_css("#me", text: name)
    expect(page).to have_css("#chat[data-connected='true']") # subscription confirmed
  end

  def say(text)
    fill_in "Message", with: text
    click_button "Send"
  end

  it "shows a message posted in one browser in the other without a reload" do
    join("alice", "lobby")
    using_session(:bob) { join("bob", "lobby") }
    using_session(:carol) { join("carol", "kitchen") }
    # Served by anycable-rs' hub in this process, not by Action Cable's server.
    expect(AnyCable::RS.stats["clients"]).to be >= 3 # sessions of earlier examples may still be closing
    expect(ActionCable.server.connections).to be_empty

    say("hello from alice")
    using_session(:bob) do
      expect(page).to have_css("#messages li", text: "alice: hello from alice")
      say("hi alice")
    end
    expect(page).to have_css("#messages li", text: "alice: hello from alice")
    expect(page).to have_css("#messages li", text: "bob: hi alice")
    expect(page).to have_css("#messages li", count: 2)

    using_session(:carol) do
      say("anyone in the kitchen?")
      expect(page).to have_css("#messages li", text: "carol: anyone in the kitchen?")
      expect(page).not_to have_css("#messages li", text: "alice")
    end
    expect(page).not_to have_css("#messages li", text: "kitchen")
  end

  it "shows the others that someone is typing, through whispers" do
    join("alice", "lobby")
    using_session(:bob) { join("bob", "lobby") }

    fill_in "Message", with: "hel"
    using_session(:bob) { expect(page).to have_css("#typing", text: "alice is typing") }
    # Never echoed: by now alice would have it too (one delivery to the room's stream).
    expect(page).not_to have_css("#typing", text: "is typing", visible: :all)
  end

  it "shows who is here, through presence" do
    join("alice", "lobby")
    expect(page).to have_css("#here", text: "Here: alice")
    using_session(:bob) do
      join("bob", "lobby")
      expect(page).to have_css("#here", text: "Here: alice, bob")
    end
    expect(page).to have_css("#here", text: "Here: alice, bob")
    using_session(:carol) { join("carol", "kitchen") }
    using_session(:bob) { expect(page).to have_css("#here", text: "Here: alice, bob") }
  end

  it "escapes what people write" do
    join("mallory", "lobby")
    say("<img src=x onerror=alert(1)>")
    expect(page).to have_css("#messages li", text: "mallory: <img src=x onerror=alert(1)>")
    expect(page).not_to have_css("#messages img")
  end
end
