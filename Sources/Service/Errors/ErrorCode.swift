/// Every error code the service answers with, in one place (as kcgi keeps one error enum with its
/// strerror): its HTTP status and one line saying when it happens. docs/api.md lists them all, and
/// `ErrorCatalogueTests` fails when a code is undocumented or documented but never used.
public enum ErrorCode: String, Sendable, CaseIterable {
    // Requests
    case invalidJSON = "invalid_json"
    case invalidField = "invalid_field"
    case unknownModel = "unknown_model"
    case unauthorized
    case invalidToken = "invalid_token"
    case invalidCredentials = "invalid_credentials"
    case forbidden
    case csrfFailed = "csrf_failed"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case payloadTooLarge = "payload_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case rateLimited = "rate_limited"
    case modelNotAllowed = "model_not_allowed"
    case quotaExceeded = "quota_exceeded"
    case passwordLoginDisabled = "password_login_disabled"
    // Sign-in with the identity provider: the `login_error` of `/auth/oidc/callback`'s redirect
    case oidcNotConfigured = "oidc_not_configured"
    case providerUnavailable = "provider_unavailable"
    case providerDenied = "provider_denied"
    case stateInvalid = "state_invalid"
    case tokenInvalid = "token_invalid"
    case emailMissing = "email_missing"
    case emailNotVerified = "email_not_verified"
    case notAllowed = "not_allowed"
    case accountDisabled = "account_disabled"
    case accountConflict = "account_conflict"
    // Conflicts with stored data
    case emailTaken = "email_taken"
    case nameTaken = "name_taken"
    case lastAdmin = "last_admin"
    case conflict
    case chatBusy = "chat_busy"
    case searchUnavailableEncrypted = "search_unavailable_encrypted"
    case encryptionKeyRequired = "encryption_key_required"
    // Secrets and connections (also the codes of `problems` entries)
    case secretRequired = "secret_required"
    case maskedValueRejected = "masked_value_rejected"
    case baseURLNotAllowed = "base_url_not_allowed"
    case duplicateName = "duplicate_name"
    case tooMany = "too_many"
    case undecryptableSecret = "undecryptable_secret"
    case importInvalid = "import_invalid"
    // Capacity
    case tooManyStreams = "too_many_streams"
    case busy
    case databaseBusy = "database_busy"
    case unavailable
    case internalError = "internal_error"
    // Model providers
    case upstreamStatus = "upstream_status"
    case upstreamFailed = "upstream_failed"
    case upstreamUnreachable = "upstream_unreachable"
    case upstreamIncomplete = "upstream_incomplete"
    case upstreamInvalid = "upstream_invalid"
    case timeout
    case answerTooLarge = "answer_too_large"
    case stopped
    case modelsUnavailable = "models_unavailable"
    case apiKeyMissing = "api_key_missing"
    case pipeNotConfigured = "pipe_not_configured"
    case pipeKeyUndecryptable = "pipe_key_undecryptable"
    case artifactKeyUndecryptable = "artifact_key_undecryptable"
    // Guarded downloads
    case invalidURL = "invalid_url"
    case schemeNotAllowed = "scheme_not_allowed"
    case insecureHTTPNotAllowed = "insecure_http_not_allowed"
    case blockedAddress = "blocked_address"
    case tooLarge = "too_large"
    case dnsFailure = "dns_failure"
    case tooManyRedirects = "too_many_redirects"
    case networkError = "network_error"

    public var status: Int {
        switch self {
        case .invalidJSON, .invalidField, .unknownModel, .secretRequired, .maskedValueRejected, .baseURLNotAllowed, .duplicateName,
            .tooMany, .undecryptableSecret, .invalidURL, .schemeNotAllowed, .insecureHTTPNotAllowed, .emailMissing:
            400
        case .unauthorized, .invalidToken, .invalidCredentials, .providerDenied, .stateInvalid, .tokenInvalid: 401
        case .forbidden, .csrfFailed, .blockedAddress, .modelNotAllowed, .passwordLoginDisabled, .emailNotVerified, .notAllowed,
            .accountDisabled:
            403
        case .notFound, .oidcNotConfigured: 404
        case .methodNotAllowed: 405
        case .emailTaken, .nameTaken, .lastAdmin, .conflict, .accountConflict, .chatBusy, .searchUnavailableEncrypted,
            .encryptionKeyRequired:
            409
        case .payloadTooLarge, .tooLarge: 413
        case .unsupportedMediaType: 415
        case .importInvalid: 422
        case .rateLimited, .tooManyStreams, .quotaExceeded: 429
        case .internalError: 500
        case .upstreamStatus, .upstreamFailed, .upstreamUnreachable, .upstreamIncomplete, .upstreamInvalid, .answerTooLarge, .stopped,
            .modelsUnavailable,
            .apiKeyMissing, .dnsFailure, .tooManyRedirects, .networkError, .providerUnavailable:
            502
        case .busy, .databaseBusy, .unavailable, .pipeNotConfigured, .pipeKeyUndecryptable, .artifactKeyUndecryptable: 503
        case .timeout: 504
        }
    }

    /// When the code is given (the `when` column of docs/api.md).
    public var summary: String {
        switch self {
        case .invalidJSON: "the body is not valid JSON, or not an object"
        case .invalidField: "a field is missing, of the wrong type, out of range or unknown (`field` names it)"
        case .unknownModel: "no enabled connection serves the model"
        case .unauthorized: "no credentials on a route that needs them"
        case .invalidToken: "a bearer token that is malformed, unknown or revoked"
        case .invalidCredentials: "wrong email or password (the same answer for unknown emails)"
        case .forbidden: "a user (not admin) on an `/admin/` route"
        case .csrfFailed: "a state-changing request authenticated by cookie without the right `X-CSRF-Token`"
        case .notFound: "unknown route, or an object that does not exist or belongs to someone else"
        case .methodNotAllowed: "known path, wrong method (`Allow` lists the right ones)"
        case .payloadTooLarge: "body over the limit (nginx's 10 MiB, or `CRYOTENSOR_MAX_BODY_MB`)"
        case .unsupportedMediaType: "a body that is not JSON"
        case .rateLimited: "too many login attempts; `Retry-After` gives the seconds to wait"
        case .modelNotAllowed: "the model is served only to groups the caller is not in (`allowed_groups`; admins too)"
        case .quotaExceeded: "the caller's daily token quota is used up; `Retry-After` gives the seconds to the next UTC midnight"
        case .passwordLoginDisabled: "`POST /auth/login` while `ENABLE_PASSWORD_LOGIN=false`"
        case .oidcNotConfigured: "sign-in with an identity provider asked for, but `OIDC_ISSUER` is unset"
        case .providerUnavailable: "the identity provider's discovery document, keys or token endpoint failed or answered badly"
        case .providerDenied: "the identity provider answered the sign-in with an error (the person cancelled, or was refused)"
        case .stateInvalid: "a sign-in callback whose `state` is unknown, used, expired or bound to another browser"
        case .tokenInvalid: "the ID token failed a check (signature, algorithm, `iss`, `aud`, `exp`, `iat`, `nonce`)"
        case .emailMissing: "the ID token of a new account has no valid `email` claim"
        case .emailNotVerified: "an account with this email exists and the provider did not say `email_verified: true`"
        case .notAllowed: "the person is in none of `OIDC_ALLOWED_GROUPS`"
        case .accountDisabled: "the account signing in with the identity provider is disabled"
        case .accountConflict: "the account with this email is already linked to another subject of the provider"
        case .emailTaken: "a user with this email exists"
        case .nameTaken: "a connection or group with this name exists"
        case .lastAdmin: "the change would leave no active admin"
        case .conflict: "the change conflicts with an existing record"
        case .chatBusy: "the chat already has an answer in flight (stop it or wait)"
        case .searchUnavailableEncrypted: "transcripts are encrypted at rest, so the server keeps no search index"
        case .encryptionKeyRequired: "encrypted export without `CONFIG_ENCRYPTION_KEY`"
        case .secretRequired: "an update of an object holding a secret brings neither the secret nor its clear"
        case .maskedValueRejected: "a secret that looks like a mask or a stored value"
        case .baseURLNotAllowed: "a base URL that is not in `OPENAI_ALLOWED_API_BASE_URLS`"
        case .duplicateName: "an import names the same connection twice"
        case .tooMany: "an import with more than 1,000 connections"
        case .undecryptableSecret: "an imported ciphertext that the current keys cannot open"
        case .importInvalid: "an import with problems (all listed in `problems`); nothing was written"
        case .tooManyStreams: "the user has `max_streams_per_user` answers in flight; `Retry-After`"
        case .busy: "the service has `--max-streams` long requests in flight; `Retry-After`, always JSON"
        case .databaseBusy: "the database stayed locked; `Retry-After`"
        case .unavailable: "the responder cannot open its database"
        case .internalError: "a bug; the request id is in `X-Request-Id` and the log"
        case .upstreamStatus: "the provider (or a download's server) answered with an error status; its text is never passed on"
        case .upstreamFailed: "the provider reported a failure midway; its words go to the log, redacted, never to the caller"
        case .upstreamUnreachable: "the provider could not be reached"
        case .upstreamIncomplete: "the provider's answer ended before it was complete"
        case .upstreamInvalid: "the provider's model list is not in the expected form"
        case .timeout: "the provider or a download did not answer in time"
        case .answerTooLarge: "the provider's answer went past `MAX_ANSWER_MB`; what fit is stored as incomplete"
        case .stopped: "the answer was stopped by `POST /chats/{id}/stop` (in a stream's `error` event)"
        case .modelsUnavailable: "no connection lists the model and at least one could not be asked; `Retry-After`"
        case .apiKeyMissing: "a connection has no usable API key (in `GET /models` `errors`)"
        case .pipeNotConfigured: "the OpenRouter pipe has no usable API key, or its `BASE_URL` is not allowed"
        case .pipeKeyUndecryptable: "the pipe's `API_KEY` valve cannot be decrypted; an admin must enter it again"
        case .artifactKeyUndecryptable: "the pipe's `ARTIFACT_ENCRYPTION_KEY` valve cannot be decrypted"
        case .invalidURL: "a download URL that does not parse"
        case .schemeNotAllowed: "a download URL that is not http(s)"
        case .insecureHTTPNotAllowed: "plain http to a host not in `ALLOW_INSECURE_HTTP_HOSTS`"
        case .blockedAddress: "a download that resolves to a loopback, private or other special address"
        case .tooLarge: "a download over `REMOTE_FILE_MAX_SIZE_MB`"
        case .dnsFailure: "a download's host name does not resolve"
        case .tooManyRedirects: "a download redirected too often"
        case .networkError: "a download's server could not be reached"
        }
    }
}

extension ErrorCode {
    /// The table of docs/api.md's Errors section, in the catalogue's order within each status.
    public static var markdownTable: String {
        var lines = ["| status | code | when |", "|---|---|---|"]
        for code in allCases.sorted(by: { $0.status < $1.status }) {
            lines.append("| \(code.status) | `\(code.rawValue)` | \(code.summary) |")
        }
        return lines.joined(separator: "\n")
    }
}
