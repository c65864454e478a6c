import Outbound
import Storage
import Support

/// `GET /models`: each enabled connection's model names, fetched from `{base_url}/models` with
/// its key and cached briefly in Redis (names only, never a key). A failing connection is
/// reported in `errors` without hiding the others.
enum ModelHandlers {
    static let cacheSeconds = "60"

    static func cacheKey(_ id: Int64) -> String { "ct:models:\(id)" }

    static func upstreamRequest(_ c: ConnectionRecord, key: String, path: String) -> (url: String, headers: [(String, String)]) {
        switch c.kind {
        case "azure_openai":
            return ("\(c.baseURL)\(path)?api-version=\(c.apiVersion ?? "")", [("api-key", key), ("Accept", "application/json")])
        default:
            return (c.baseURL + path, [("Authorization", "Bearer " + key), ("Accept", "application/json")])
        }
    }

    static func list(_ c: Context) throws -> Response {
        let vault = c.services.shared.vault
        var models: [JSON] = []
        var errors: [JSON] = []
        for connection in try ConnectionRepository(c.db).all() where connection.enabled {
            func fail(_ code: String, _ message: String) {
                errors.append(["connection_id": .number(Double(connection.id)), "connection": .string(connection.name),
                               "code": .string(code), "message": .string(message)])
            }
            var names: [String]? = nil
            if let cached = c.services.redisCommand(["GET", cacheKey(connection.id)])?.string,
               let parsed = try? JSON.parse(cached).arrayValue {
                names = parsed.compactMap(\.stringValue)
            }
            if names == nil {
                guard let key = ConnectionRules.key(of: connection, vault: vault) else {
                    fail("api_key_missing", "This connection has no usable API key.")
                    continue
                }
                let request = upstreamRequest(connection, key: key, path: "/models")
                do {
                    let answer = try HTTPClient.send(method: "GET", url: request.url, headers: request.headers, timeoutSeconds: 10, maxBytes: 4 << 20)
                    guard answer.status == 200 else {
                        fail("upstream_status", "The provider answered HTTP \(answer.status).")
                        continue
                    }
                    guard let data = (try? JSON.parse(answer.body))?["data"]?.arrayValue else {
                        fail("upstream_invalid", "The provider's model list is not in the expected form.")
                        continue
                    }
                    let found = data.compactMap { $0["id"]?.stringValue }.filter { $0.count <= 200 }
                    names = found
                    _ = c.services.redisCommand(["SET", cacheKey(connection.id), JSON.array(found.map { .string($0) }).serialized(), "EX", cacheSeconds])
                } catch {
                    fail(error.kind == .timeout ? "timeout" : "upstream_unreachable", "The provider could not be reached (\(error.kind.rawValue)).")
                    continue
                }
            }
            for name in names ?? [] {
                models.append(["id": .string(name), "object": "model", "owned_by": .string(connection.name),
                               "connection_id": .number(Double(connection.id))])
            }
        }
        let config = try c.services.runtimeConfig()
        return .json(["object": "list", "data": .array(models), "errors": .array(errors),
                      "default_model": config.defaultModel.isEmpty ? .null : .string(config.defaultModel)])
    }

    /// Drops a connection's cached names after it changed.
    static func invalidate(_ c: Context, id: Int64) {
        _ = c.services.redisCommand(["DEL", cacheKey(id)])
    }
}
