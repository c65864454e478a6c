import CCurl
import Foundation
import Support

public struct OutboundError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case timeout, network, tooLarge = "too_large", dns = "dns_failure", aborted, stopped, invalidHeader = "invalid_header"
    }
    public let kind: Kind
    public let message: String
    public var description: String { "\(kind.rawValue): \(message)" }
}

public struct HTTPResponse: Sendable {
    public let status: Int
    public let body: [UInt8]
}

/// A small libcurl client for calls to upstream providers. It never follows redirects (a
/// redirect must not carry a provider key to another host), ignores proxy variables, speaks
/// only http and https, and caps the answer's size.
public enum HTTPClient {
    static let initialized: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    final class Sink {
        var body: [UInt8] = []
        let limit: Int
        var exceeded = false
        var received = 0
        let onChunk: (([UInt8]) -> Bool)?
        let shouldStop: (() -> Bool)?
        var stopped = false
        /// The answer's HTTP status, known from the first body byte on.
        var status = 0
        var handle: UnsafeMutableRawPointer?
        var onStatus: ((Int) -> Void)?
        init(limit: Int, onChunk: (([UInt8]) -> Bool)?, shouldStop: (() -> Bool)?) {
            self.limit = limit
            self.onChunk = onChunk
            self.shouldStop = shouldStop
        }
    }

    /// Performs one request. `onChunk` (streaming) receives body bytes as they arrive and returns
    /// false to abort; without it the body is collected. Either way at most `maxBytes` are read.
    /// `shouldStop` is asked at least once a second, also while the server sends nothing; true
    /// ends the transfer (kind `aborted`) and closes the connection. A streamed answer that
    /// sends nothing for `idleSeconds` is ended as a timeout.
    public static func send(method: String, url: String, headers: [(String, String)], body: [UInt8]? = nil,
                            timeoutSeconds: Int = 30, maxBytes: Int = 8 << 20, idleSeconds: Int = 120,
                            shouldStop: (() -> Bool)? = nil, onStatus: ((Int) -> Void)? = nil,
                            onChunk: (([UInt8]) -> Bool)? = nil) throws(OutboundError) -> HTTPResponse {
        guard initialized, let handle = curl_easy_init() else { throw OutboundError(kind: .network, message: "libcurl unavailable") }
        defer { curl_easy_cleanup(handle) }
        // A CR, LF or NUL in a header (a key pasted with a newline) would let it add headers of its own.
        for (name, value) in headers where (name + value).unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw OutboundError(kind: .invalidHeader,
                message: "header \(name.filter { $0.isLetter || $0 == "-" }) holds a control character")
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in headers + [("Expect", "")] {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        defer { curl_slist_free_all(list) }
        let sink = Sink(limit: maxBytes, onChunk: onChunk, shouldStop: shouldStop)
        sink.handle = handle
        sink.onStatus = onStatus
        let sinkPointer = Unmanaged.passRetained(sink)
        defer { sinkPointer.release() }

        _ = ccurl_setopt_string(handle, CURLOPT_URL, url)
        _ = ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_setopt_string(handle, CURLOPT_NOPROXY, "*")
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, 10)
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        _ = ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        var bodyCopy = body ?? []
        if body != nil {
            _ = ccurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, bodyCopy.count)
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, sinkPointer.toOpaque())
        if onChunk != nil {
            // Only a streamed answer is expected to send something all along; a collected one
            // (a non-streaming completion) may be silent until it is done.
            _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, min(idleSeconds, timeoutSeconds)))
        }
        if shouldStop != nil {
            _ = ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
            _ = ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, sinkPointer.toOpaque())
            _ = ccurl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
                guard let context else { return 0 }
                let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                if sink.shouldStop?() == true { sink.stopped = true; return 1 }
                return 0
            }
        }
        _ = ccurl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            guard let data, let context else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            let n = size * count
            let bytes = Array(UnsafeRawBufferPointer(start: data, count: n))
            // Streamed answers count against the same cap as collected ones.
            sink.received += n
            if sink.received > sink.limit { sink.exceeded = true; return 0 }
            if sink.shouldStop?() == true { sink.stopped = true; return 0 }
            if sink.status == 0, let handle = sink.handle {
                var code = 0
                _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
                sink.status = code
                sink.onStatus?(code)
            }
            if let onChunk = sink.onChunk {
                return onChunk(bytes) ? n : 0
            }
            sink.body.append(contentsOf: bytes)
            return n
        }
        let code: CURLcode = bodyCopy.withUnsafeMutableBytes { raw in
            if body != nil { _ = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, raw.baseAddress) }
            return curl_easy_perform(handle)
        }
        if sink.exceeded { throw OutboundError(kind: .tooLarge, message: "answer larger than \(maxBytes) bytes") }
        if sink.stopped { throw OutboundError(kind: .stopped, message: "stopped on request") }
        switch code {
        case CURLE_OK: break
        case CURLE_OPERATION_TIMEDOUT: throw OutboundError(kind: .timeout, message: "no answer in time")
        case CURLE_COULDNT_RESOLVE_HOST: throw OutboundError(kind: .dns, message: "host not found")
        case CURLE_WRITE_ERROR: throw OutboundError(kind: .aborted, message: "transfer stopped")
        default: throw OutboundError(kind: .network, message: String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.body)
    }
}
