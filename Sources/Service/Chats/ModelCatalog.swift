import Cache
import Crypto
import Outbound
import Pipe
import Storage
import Support

/// Each enabled connection's model names, fetched from `{base_url}/models` with
/// its key and cached briefly in Redis (names only, never a key). A failing connection is
/// reported in `errors` without hiding the others.
package enum ModelCatalog {
    package static let cacheSeconds = 60

    package static func upstreamRequest(_ c: ConnectionRecord, key: String, path: String) -> (url: String, headers: [(String, String)]) {
        switch c.kind {
        case "azure_openai":
            return ("\(c.baseURL)\(path)?api-version=\(c.apiVersion ?? "")", [("api-key", key), ("Accept", "application/json")])
        default:
            return (c.baseURL + path, [("Authorization", "Bearer " + key), ("Accept", "application/json")])
        }
    }

    package struct Failure: Error {
        package let code: ErrorCode
        package let message: String
    }

    /// A cached model list steers routing (which connection, and so which key, serves a model), so
    /// it is a signed entry bound to the connection and its URL (`scope`); a list someone else wrote
    /// to Redis fails the check and is fetched again.
    package static func readCache(_ c: Scope, key: CacheKey?, scope: String) -> [String]? {
        guard let key, let cached = c.services.cache.getSigned(key, context: scope, macKey: c.services.shared.cacheMACKey),
            let list = (try? JSON.parse(cached))?.arrayValue
        else { return nil }
        return list.compactMap(\.stringValue)
    }

    package static func writeCache(_ c: Scope, key: CacheKey?, scope: String, names: [String]) {
        guard let key else { return }
        c.services.cache.setSigned(
            key, JSON.array(names.map { .string($0) }).serialized(), context: scope,
            macKey: c.services.shared.cacheMACKey, ttlSeconds: cacheSeconds)
    }

    package static func scope(_ connection: ConnectionRecord) -> String { "connection|\(connection.id)|\(connection.baseURL)" }

    /// How long a connection's failure is remembered: a dead provider costs one caller its
    /// timeout in this window, not every caller.
    package static let failureSeconds = 15.0

    /// One connection's model names: from Redis when cached (and authentic), else from the provider.
    package static func names(of connection: ConnectionRecord, _ c: Scope) -> Result<[String], Failure> {
        if let cached = readCache(c, key: .connectionModels(connection.id), scope: scope(connection)) {
            return .success(cached)
        }
        let now = Clock.monotonicMillis() / 1000
        if let failed = c.services.shared.modelFailures.withLock({ $0[connection.id] }), failed.until > now {
            return .failure(Failure(code: failed.code, message: failed.message))
        }
        let result = fetchNames(of: connection, c)
        if case .failure(let failure) = result {
            c.services.shared.modelFailures.withLock { $0[connection.id] = (failure.code, failure.message, now + failureSeconds) }
        }
        return result
    }

    package static func fetchNames(of connection: ConnectionRecord, _ c: Scope) -> Result<[String], Failure> {
        guard let key = ConnectionRules.key(of: connection, vault: c.services.shared.vault) else {
            return .failure(Failure(code: .apiKeyMissing, message: "This connection has no usable API key."))
        }
        let request = upstreamRequest(connection, key: key, path: "/models")
        c.releaseServices()
        do {
            let answer = try HTTPClient.send(
                method: "GET", url: request.url, headers: request.headers, timeoutSeconds: 10,
                maxBytes: 4 << 20)
            guard answer.status == 200 else {
                return .failure(Failure(code: .upstreamStatus, message: "The provider answered HTTP \(answer.status)."))
            }
            guard let data = (try? JSON.parse(answer.body))?["data"]?.arrayValue else {
                return .failure(Failure(code: .upstreamInvalid, message: "The provider's model list is not in the expected form."))
            }
            let found = data.compactMap { $0["id"]?.stringValue }.filter { $0.count <= 200 }
            writeCache(c, key: .connectionModels(connection.id), scope: scope(connection), names: found)
            return .success(found)
        } catch {
            return .failure(
                Failure(
                    code: error.kind == .timeout ? .timeout : .upstreamUnreachable,
                    message: "The provider could not be reached (\(error.kind.rawValue))."))
        }
    }

    /// The first enabled connection that serves `model` and that the caller may use, with its
    /// key. Both model paths route here, so model access is enforced in this one place: a
    /// connection the caller may not use is never chosen, and when only such connections serve
    /// the model the answer is 403 `model_not_allowed`.
    package static func route(model: String, _ c: Scope) throws -> (ConnectionRecord, String) {
        var unreachable = false
        let groups = try ModelAccess.callerGroups(c)
        let enabled = try ConnectionRepository(c.db).all().filter(\.enabled)
        for connection in enabled where ModelAccess.permits(connection.allowedGroups, groups) {
            switch names(of: connection, c) {
            case .success(let found):
                if found.contains(model), let key = ConnectionRules.key(of: connection, vault: c.services.shared.vault) {
                    return (connection, key)
                }
            case .failure:
                unreachable = true
            }
        }
        // A provider that is down is not a wrong model name: the caller should try again, not fix the request.
        if unreachable {
            var e = ServiceError(.modelsUnavailable, "A provider's model list cannot be fetched now; try again shortly.")
            e.retryAfter = 15
            throw e
        }
        for connection in enabled where !ModelAccess.permits(connection.allowedGroups, groups) {
            if case .success(let found) = names(of: connection, c), found.contains(model) { throw ModelAccess.notAllowed(model) }
        }
        throw ServiceError(.unknownModel, "No enabled connection serves the model '\(model)'.", field: "model")
    }

    /// Drops a connection's cached names (and remembered failure) after it changed.
    package static func invalidate(_ c: Scope, id: Int64) {
        c.services.shared.modelFailures.withLock { $0[id] = nil }
        c.services.cache.delete([.connectionModels(id)])
    }
}
