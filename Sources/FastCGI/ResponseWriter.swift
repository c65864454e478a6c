import CFastCGI

/// Writes one response. `send` writes headers and a whole body; `startStream`, `write` and
/// `flush` stream (server-sent events), flushing through nginx event by event.
public final class ResponseWriter {
    let stream: UnsafeMutablePointer<FCGX_Stream>?
    public private(set) var status: Int = 0
    public private(set) var headersSent = false
    public private(set) var bytesWritten = 0
    /// Set when the client (nginx) went away mid-stream.
    public private(set) var broken = false
    public var extraHeaders: [(String, String)] = []

    init(stream: UnsafeMutablePointer<FCGX_Stream>?) {
        self.stream = stream
    }

    public func send(status: Int, headers: [(String, String)], body: [UInt8]) {
        startStream(status: status, headers: headers + [("Content-Length", String(body.count))])
        write(body)
    }

    public func startStream(status: Int, headers: [(String, String)]) {
        guard !headersSent else { return }
        headersSent = true
        self.status = status
        var head = "Status: \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers + extraHeaders {
            // Header values we emit never contain CR/LF; strip defensively so nothing can split a response.
            let clean = value.filter { $0 != "\r" && $0 != "\n" }
            head += "\(name): \(clean)\r\n"
        }
        head += "\r\n"
        write(Array(head.utf8))
    }

    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, !broken, let stream else { return }
        let rc = bytes.withUnsafeBytes { raw in
            FCGX_PutStr(raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count), stream)
        }
        if rc < 0 { broken = true } else { bytesWritten += bytes.count }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }

    /// Pushes buffered output to nginx now; false when the peer is gone.
    @discardableResult
    public func flush() -> Bool {
        guard let stream, !broken else { return false }
        if FCGX_FFlush(stream) < 0 { broken = true }
        return !broken
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }
}
