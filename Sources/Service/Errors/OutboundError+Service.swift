import Outbound

extension ErrorCode {
    /// A failed call to a model provider, as the caller learns it: the kind, never the provider's text.
    package init(outbound error: OutboundError) {
        switch error.kind {
        case .timeout: self = .timeout
        case .tooLarge: self = .answerTooLarge
        case .stopped: self = .stopped
        default: self = .upstreamUnreachable
        }
    }

    /// A guarded download's refusal.
    package init(refusal code: GuardRefusal.Code) {
        switch code {
        case .invalidURL: self = .invalidURL
        case .schemeNotAllowed: self = .schemeNotAllowed
        case .insecureHTTPNotAllowed: self = .insecureHTTPNotAllowed
        case .blockedAddress: self = .blockedAddress
        case .dnsFailure: self = .dnsFailure
        case .tooLarge: self = .tooLarge
        case .timeout: self = .timeout
        case .upstreamStatus: self = .upstreamStatus
        case .tooManyRedirects: self = .tooManyRedirects
        case .network: self = .networkError
        }
    }
}
