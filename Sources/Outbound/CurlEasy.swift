import CCurl
import Foundation
import Support

/// One libcurl easy handle, used for one transfer, and every option outbound calls share.
///
/// Made with: only http and https, no redirect followed by libcurl (callers decide about a
/// `Location`, so a key never travels to another host), no proxy whatever the environment says,
/// no signals (threads), a total and a connect timeout, and a cap on the body bytes received.
/// Callers add what is theirs (headers, a method and body, pinning, hooks) and call `perform`
/// once. The handle and every list handed to libcurl are freed with this object.
final class CurlEasy {
    static let initialized: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()
    static let unsupportedProtocol = CURLE_UNSUPPORTED_PROTOCOL.rawValue

    /// A body chunk as it arrives, with the answer's HTTP status; false ends the transfer.
    typealias BodyHandler = (_ status: Int, _ bytes: UnsafeRawBufferPointer) -> Bool
    /// One header line as sent (with its CRLF); false ends the transfer.
    typealias HeaderHandler = (_ line: String) -> Bool
    /// The address libcurl is about to connect to (nil when it is neither IPv4 nor IPv6); false
    /// refuses the connection.
    typealias ConnectCheck = (_ address: IPAddress?) -> Bool

    private let handle: UnsafeMutableRawPointer
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    private var postBody: [UInt8]?
    let maxBytes: Int
    private(set) var received = 0
    /// More than `maxBytes` body bytes arrived; the transfer was ended.
    private(set) var exceeded = false
    /// `shouldStop` answered true; the transfer was ended.
    private(set) var stopped = false
    private var status = 0

    var onBody: BodyHandler?
    var onHeader: HeaderHandler?
    private var shouldStop: (() -> Bool)?
    private var connectCheck: ConnectCheck?

    init(url: String, timeoutMillis: Int, connectTimeoutMillis: Int, maxBytes: Int) throws(OutboundError) {
        guard Self.initialized, let handle = curl_easy_init() else {
            throw OutboundError(kind: .network, message: "libcurl unavailable")
        }
        self.handle = handle
        self.maxBytes = maxBytes
        set(CURLOPT_URL, url)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_PROXY, "")
        set(CURLOPT_NOPROXY, "*")
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_TIMEOUT_MS, max(1, timeoutMillis))
        set(CURLOPT_CONNECTTIMEOUT_MS, max(1, connectTimeoutMillis))
    }

    deinit {
        curl_easy_cleanup(handle)
        lists.forEach { curl_slist_free_all($0) }
    }

    private func set(_ option: CURLoption, _ value: Int) { _ = ccurl_setopt_long(handle, option, value) }
    private func set(_ option: CURLoption, _ value: String) { _ = ccurl_setopt_string(handle, option, value) }

    /// A list option (CURLOPT_HTTPHEADER, CURLOPT_RESOLVE); the list lives as long as the handle.
    /// A list cut short (out of memory) could drop a pin or a header: the transfer is refused.
    private func set(_ option: CURLoption, list items: [String]) throws(OutboundError) {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for item in items {
            guard let longer = curl_slist_append(list, item) else {
                curl_slist_free_all(list)
                throw OutboundError(kind: .network, message: "out of memory")
            }
            list = longer
        }
        if let list { lists.append(list) }
        _ = ccurl_setopt_slist(handle, option, list)
    }

    /// Request header lines (`Name: value`; `Name:` alone removes one libcurl would add).
    func headers(_ lines: [String]) throws(OutboundError) { try set(CURLOPT_HTTPHEADER, list: lines) }

    /// Pins `host:port` to `address` (CURLOPT_RESOLVE): libcurl asks no resolver for that name.
    func pin(host: String, port: Int, to address: IPAddress) throws(OutboundError) {
        let literal = address.isIPv4 ? "\(address)" : "[\(address)]"
        try set(CURLOPT_RESOLVE, list: ["\(host):\(port):\(literal)"])
    }

    /// A new connection, closed after this transfer: nothing of it is ever reused.
    func freshConnectionOnly() {
        set(CURLOPT_FORBID_REUSE, 1)
        set(CURLOPT_FRESH_CONNECT, 1)
    }

    func userAgent(_ text: String) { set(CURLOPT_USERAGENT, text) }

    /// The method as sent, and a body when there is one (sent with its length, no `Expect`).
    func request(method: String, body: [UInt8]?) {
        set(CURLOPT_CUSTOMREQUEST, method)
        postBody = body
        if let body { set(CURLOPT_POSTFIELDSIZE, body.count) }
    }

    /// Ends a transfer that receives nothing for `seconds` as a timeout.
    func idleLimit(seconds: Int) {
        set(CURLOPT_LOW_SPEED_LIMIT, 1)
        set(CURLOPT_LOW_SPEED_TIME, max(1, seconds))
    }

    /// Asked at least once a second (also while the server is silent) and on every chunk.
    func stop(when shouldStop: @escaping () -> Bool) {
        self.shouldStop = shouldStop
        set(CURLOPT_NOPROGRESS, 0)
        _ = ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, Unmanaged.passUnretained(self).toOpaque())
        _ = ccurl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
            guard let context else { return 1 }
            let easy = Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
            if easy.shouldStop?() == true { easy.stopped = true; return 1 }
            return 0
        }
    }

    /// Every socket libcurl opens passes `check` first; a refused one is never created.
    func checkConnect(_ check: @escaping ConnectCheck) {
        connectCheck = check
        _ = ccurl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, Unmanaged.passUnretained(self).toOpaque())
        _ = ccurl_setopt_opensocket(handle) { context, _, address in
            guard let context, let address else { return CURL_SOCKET_BAD }
            let easy = Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
            guard let check = easy.connectCheck else { return CURL_SOCKET_BAD }
            var raw = [UInt8](repeating: 0, count: 16)
            let family = ccurl_sockaddr_ip(address, &raw)
            let ip = family == AF_INET ? IPAddress(bytes: Array(raw.prefix(4))) : family == AF_INET6 ? IPAddress(bytes: raw) : nil
            guard check(ip) else { return CURL_SOCKET_BAD }
            return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
        }
    }

    /// Runs the transfer. Throws `tooLarge` past `maxBytes`, `stopped` when asked to stop, else
    /// libcurl's failure mapped once (`OutboundError(curl:)`).
    func perform() throws(OutboundError) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            guard let data, let context else { return 0 }
            let easy = Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
            let (n, overflow) = size.multipliedReportingOverflow(by: count)
            // Counted here: a chunked or lying answer is cut at the cap, whatever it declared.
            guard !overflow, n <= easy.maxBytes - easy.received else { easy.exceeded = true; return 0 }
            easy.received += n
            if easy.shouldStop?() == true { easy.stopped = true; return 0 }
            if easy.status == 0 { easy.status = easy.responseCode }
            guard let onBody = easy.onBody else { return n }
            return onBody(easy.status, UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
        }
        if onHeader != nil {
            _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
            _ = ccurl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                guard let data, let context else { return 0 }
                let easy = Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
                let (n, overflow) = size.multipliedReportingOverflow(by: count)
                guard !overflow, let onHeader = easy.onHeader else { return 0 }
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
                return onHeader(line) ? n : 0
            }
        }
        let code: CURLcode
        if var body = postBody {
            code = body.withUnsafeMutableBytes { raw in
                _ = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, raw.baseAddress)
                return curl_easy_perform(handle)
            }
        } else {
            code = curl_easy_perform(handle)
        }
        if exceeded { throw OutboundError(kind: .tooLarge, message: "answer larger than \(maxBytes) bytes") }
        if stopped { throw OutboundError(kind: .stopped, message: "stopped on request") }
        if let error = OutboundError(curl: code) { throw error }
    }

    /// The last answer's HTTP status (0 before one arrived).
    var responseCode: Int {
        var code = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}
