import Crypto
import Pipe
import Service
import Storage
import Support

enum PipeHandlers {
    /// `{valves: {NAME: value, ...}, clear: [NAME, ...]}`; each valve is checked by its own kind.
    static let valvesInput = InputSpec([.optional("valves", .object), .optional("clear", .stringList(max: 64))])

    static func list(_ c: Context) throws -> Response {
        let valves = try PipeValves.load(c)
        let ready: Bool = {
            if case .success = valves.apiKey() { return true }; return false
        }()
        return .json([
            "pipes": [
                [
                    "id": .string(Valves.pipeID), "name": "OpenRouter Responses", "base_url": .string(valves.value("BASE_URL")),
                    "base_url_allowed": .bool(c.config.allowedBaseURLs.contains(valves.value("BASE_URL"))),
                    "api_key": valves.describeSecret("API_KEY"), "ready": .bool(ready), "model_prefix": .string(PipeTurn.modelPrefix)
                ]
            ]
        ])
    }

    static func getValves(_ c: Context) throws -> Response {
        let valves = try PipeValves.load(c)
        return .json([
            "pipe": .string(Valves.pipeID), "valves": valves.json,
            "webui_secret_key_set": .bool(c.config.webuiSecretKey != nil)
        ])
    }

    /// `{valves: {NAME: value, ...}, clear: [NAME, ...]}`: all checked first, then written together.
    static func putValves(_ c: Context) throws -> Response {
        let body = try c.input(valvesInput).document
        try PipeValves.update(c, body)
        let patch = body["valves"]?.objectValue ?? [:]
        let answer = try getValves(c)
        guard case .object(var body)? = try? JSON.parse(answer.body) else { return answer }
        var warnings: [JSON] = []
        if let artifactKey = patch["ARTIFACT_ENCRYPTION_KEY"]?.stringValue, artifactKey.count < 32 {
            warnings.append(
                .string(
                    "ARTIFACT_ENCRYPTION_KEY is shorter than 32 characters: accepted for compatibility with the "
                        + "reference pipe, but a short key is open to offline guessing. Use at least 32 random characters."))
        }
        body["warnings"] = .array(warnings)
        return .json(.object(body))
    }
}
