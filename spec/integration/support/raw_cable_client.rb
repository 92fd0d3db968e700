# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "json"
require "securerandom"
require "socket"
require "uri"

module IntegrationSupport
  # A deliberately dumb WebSocket client (RFC 6455, client side) for saying things a real
  # Action Cable client never would: any text or binary frame, any handshake header. It keeps
  # the HTTP response of the handshake for assertions and reads frames with timeouts.
  #
  # Self-contained on purpose: the gem's own bundle (which runs these specs) has no WebSocket
  # library, and the framing needed here is a few lines.
  class RawCableClient
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    OPCODES = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xA }.freeze
    Frame = Struct.new(:type, :payload, keyword_init: true) do
      def json
        JSON.parse(payload)
      end
    end

    attr_reader :status, :response_headers, :response_body, :frames

    # headers: extra request headers ("Origin", "Cookie", ...); protocols: offered subprotocols;
    # local_host: the address to connect from (another loopback address, to tell its packets apart).
    def initialize(url, headers: {}, protocols: %w[actioncable-v1-json actioncable-unsupported], local_host: nil)
      @uri = URI(url)
      @local_host = local_host
      @request_headers = headers
      @protocols = protocols
      @buffer = +"".b
      @frames = []
      @closed = false
      @key = Base64.strict_encode64(SecureRandom.random_bytes(16))
      handshake
    end

    def upgraded?
      status == 101
    end

    def closed?
      @closed
    end

    def protocol
      response_headers["sec-websocket-protocol"]
    end

    def accept_valid?
      response_headers["sec-websocket-accept"] == Base64.strict_encode64(Digest::SHA1.digest(@key + GUID))
    end

    def send_json(message)
      send_text(JSON.generate(message))
    end

    def send_text(text)
      write_frame(:text, text.dup.force_encoding(Encoding::BINARY))
    end

    def send_binary(bytes)
      write_frame(:binary, bytes.b)
    end

    # Reads frames until one is a text frame whose JSON satisfies the block; answers WebSocket
    # pings and skips Action Cable's `{"type":"ping"}` messages (they may come at any time).
    # Returns the parsed message, or raises with everything read so far on timeout or close.
    def wait_for(timeout: 5)
      deadline = now + timeout
      loop do
        frame = read_frame(deadline - now)
        unless frame
          raise "raw client: nothing matching within #{timeout}s (closed=#{closed?}); frames: #{describe_frames}"
        end
        next unless frame.type == :text

        message = frame.json
        next if message.is_a?(Hash) && message["type"] == "ping"
        return message if yield(message)
      end
    end

    # Collects frames for `duration` seconds (or until the server closes) and returns the text
    # messages, parsed. Used to prove that nothing (but pings) was sent.
    def drain(duration)
      deadline = now + duration
      messages = []
      while (remaining = deadline - now).positive?
        frame = read_frame(remaining)
        break unless frame

        messages << frame.json if frame.type == :text
      end
      messages
    end

    # True when the server closed the TCP connection or sent a close frame within `timeout`.
    def wait_closed(timeout: 5)
      deadline = now + timeout
      read_frame(deadline - now) until closed? || now >= deadline
      closed?
    end

    def close
      write_frame(:close, [1000].pack("n")) unless closed?
    rescue IOError, SystemCallError
      nil
    ensure
      @socket&.close unless @socket&.closed?
      @closed = true
    end

    def describe_frames
      frames.map { |f| "#{f.type}:#{f.payload.inspect}" }.join(", ")
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def handshake
      @socket = Socket.tcp(@uri.host, @uri.port, @local_host, nil, connect_timeout: 5)
      @socket.write(request_head)
      head = read_until("\r\n\r\n", timeout: 5)
      raise "raw client: no HTTP response to the handshake" unless head

      status_line, *header_lines = head.split("\r\n")
      @status = status_line[%r{\AHTTP/1\.1 (\d{3})}, 1].to_i
      @response_headers = header_lines.to_h do |line|
        name, value = line.split(":", 2)
        [name.strip.downcase, value.to_s.strip]
      end
      read_body unless upgraded?
    end

    def request_head
      target = @uri.query ? "#{@uri.path}?#{@uri.query}" : @uri.path
      headers = {
        "Host" => "#{@uri.host}:#{@uri.port}",
        "Upgrade" => "websocket",
        "Connection" => "Upgrade",
        "Sec-WebSocket-Key" => @key,
        "Sec-WebSocket-Version" => "13"
      }
      headers["Sec-WebSocket-Protocol"] = @protocols.join(", ") if @protocols.any?
      headers.merge!(@request_headers)
      "GET #{target} HTTP/1.1\r\n#{headers.map { |k, v| "#{k}: #{v}\r\n" }.join}\r\n"
    end

    # A refused upgrade: read the body (Content-Length, chunked, or until the server closes).
    def read_body
      length = response_headers["content-length"]&.to_i
      chunked = response_headers["transfer-encoding"].to_s.include?("chunked")
      deadline = now + 2
      until @closed || now >= deadline
        break if length && @buffer.bytesize >= length
        break if chunked && @buffer.include?("0\r\n\r\n")

        fill(deadline - now)
      end
      @response_body = if length
                         @buffer.byteslice(0, length)
                       elsif chunked
                         dechunk(@buffer)
                       else
                         @buffer.dup
                       end
    end

    def dechunk(data)
      body = +"".b
      until data.empty?
        size_line, data = data.split("\r\n", 2)
        size = size_line.to_i(16)
        break if size.zero? || data.nil?

        body << data.byteslice(0, size)
        data = data.byteslice(size + 2..) || ""
      end
      body
    end

    def read_until(marker, timeout:)
      deadline = now + timeout
      until (index = @buffer.index(marker))
        return nil if @closed || now >= deadline

        fill(deadline - now)
      end
      @buffer.slice!(0, index + marker.bytesize)
    end

    # Reads what is available into the buffer, waiting at most `timeout` seconds.
    def fill(timeout)
      return unless @socket.wait_readable([timeout, 0].max)

      @buffer << @socket.read_nonblock(65_536)
    rescue IO::WaitReadable
      nil
    rescue IOError, SystemCallError # EOFError included
      @closed = true
    end

    # Returns the next complete frame, or nil after `timeout` seconds or once closed.
    def read_frame(timeout)
      deadline = now + timeout
      loop do
        frame = parse_frame
        return record(frame) if frame
        return nil if @closed || now >= deadline

        fill(deadline - now)
      end
    end

    def record(frame)
      @frames << frame
      case frame.type
      when :ping then write_frame(:pong, frame.payload)
      when :close then @closed = true
      end
      frame
    end

    def parse_frame
      return nil if @buffer.bytesize < 2

      first, second = @buffer.unpack("CC")
      length = second & 0x7F
      offset = 2
      case length
      when 126
        return nil if @buffer.bytesize < 4

        length = @buffer.byteslice(2, 2).unpack1("n")
        offset = 4
      when 127
        return nil if @buffer.bytesize < 10

        length = @buffer.byteslice(2, 8).unpack1("Q>")
        offset = 10
      end
      return nil if @buffer.bytesize < offset + length

      payload = @buffer.byteslice(offset, length)
      @buffer = @buffer.byteslice(offset + length..) || +"".b
      type = OPCODES.key(first & 0x0F) || :unknown
      Frame.new(type: type, payload: type == :text ? payload.force_encoding(Encoding::UTF_8) : payload)
    end

    # Client frames are always masked (RFC 6455 5.3); FIN set, no fragmentation.
    def write_frame(type, payload)
      mask = SecureRandom.random_bytes(4)
      head = [0x80 | OPCODES.fetch(type)].pack("C")
      length = payload.bytesize
      head << if length < 126
                [0x80 | length].pack("C")
              elsif length < 65_536
                [0x80 | 126, length].pack("Cn")
              else
                [0x80 | 127, length].pack("CQ>")
              end
      masked = payload.bytes.each_with_index.map { |byte, i| byte ^ mask.getbyte(i % 4) }.pack("C*")
      @socket.write(head + mask + masked)
    end
  end
end
