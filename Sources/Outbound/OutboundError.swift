import CCurl

public struct OutboundError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case timeout, network, tooLarge = "too_large", dns = "dns_failure", aborted, stopped, invalidHeader = "invalid_header"
    }
    public let kind: Kind
    public let message: String
    /// libcurl's result code when the transfer itself failed (0 otherwise): the guard tells a
    /// refused protocol apart from other network errors with it.
    var curlCode: UInt32 = 0
    public var description: String { "\(kind.rawValue): \(message)" }
}

extension OutboundError {
    /// The one mapping of a failed transfer's libcurl code; nil for CURLE_OK.
    init?(curl code: CURLcode) {
        switch code {
        case CURLE_OK: return nil
        case CURLE_OPERATION_TIMEDOUT: self.init(kind: .timeout, message: "no answer in time")
        case CURLE_COULDNT_RESOLVE_HOST: self.init(kind: .dns, message: "host not found")
        case CURLE_WRITE_ERROR: self.init(kind: .aborted, message: "transfer stopped")
        default: self.init(kind: .network, message: String(cString: curl_easy_strerror(code)))
        }
        curlCode = code.rawValue
    }

    /// libcurl's own words for the failure, whatever kind it was mapped to.
    var curlMessage: String { String(cString: curl_easy_strerror(CURLcode(rawValue: curlCode))) }
}
