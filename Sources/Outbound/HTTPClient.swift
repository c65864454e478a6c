import Support

public struct HTTPResponse: Sendable {
    public let status: Int
    public let body: [UInt8]
}

/// A small libcurl client for calls to upstream providers. It never follows redirects (a
/// redirect must not carry a provider key to another host), ignores proxy variables, speaks
/// only http and https, and caps the answer's size (all of it `CurlEasy`'s common setup).
public enum HTTPClient {
    /// Performs one request. `onChunk` (streaming) receives body bytes as they arrive and returns
    /// false to abort; without it the body is collected. Either way at most `maxBytes` are read.
    /// `shouldStop` is asked at least once a second, also while the server sends nothing; true
    /// ends the transfer (kind `stopped`) and closes the connection. A streamed answer that
    /// sends nothing for `idleSeconds` is ended as a timeout.
    public static func send(
        method: String, url: String, headers: [(String, String)], body: [UInt8]? = nil,
        timeoutSeconds: Int = 30, maxBytes: Int = 8 << 20, idleSeconds: Int = 120,
        shouldStop: (() -> Bool)? = nil, onStatus: ((Int) -> Void)? = nil,
        onChunk: (([UInt8]) -> Bool)? = nil
    ) throws(OutboundError) -> HTTPResponse {
        // A CR, LF or NUL in a header (a key pasted with a newline) would let it add headers of its own.
        for (name, value) in headers where (name + value).unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw OutboundError(
                kind: .invalidHeader, message: "header \(name.filter { $0.isLetter || $0 == "-" }) holds a control character")
        }
        let easy = try CurlEasy(
            url: url, timeoutMillis: min(timeoutSeconds, 1 << 20) * 1000, connectTimeoutMillis: 10_000, maxBytes: maxBytes)
        try easy.headers((headers + [("Expect", "")]).map { "\($0.0): \($0.1)" })
        easy.request(method: method, body: body)
        if onChunk != nil {
            // Only a streamed answer is expected to send something all along; a collected one
            // (a non-streaming completion) may be silent until it is done.
            easy.idleLimit(seconds: min(idleSeconds, timeoutSeconds))
        }
        if let shouldStop { easy.stop(when: shouldStop) }
        var collected: [UInt8] = []
        var statusSeen = false
        easy.onBody = { status, bytes in
            if !statusSeen {
                statusSeen = true
                onStatus?(status)
            }
            if let onChunk { return onChunk(Array(bytes)) }
            collected.append(contentsOf: bytes)
            return true
        }
        try easy.perform()
        return HTTPResponse(status: easy.responseCode, body: collected)
    }
}
