import Pipe
import Service
import Storage
import Support

/// `GET /models`: the model names of each enabled connection and of the pipe that the caller may
/// use (`allowed_groups`, ModelAccess), with failures listed beside them. A connection the caller
/// may not use is not asked, not listed, and its failures are not shown.
enum ModelHandlers {
    static func list(_ c: Context) throws -> Response {
        var models: [JSON] = []
        var errors: [JSON] = []
        let groups = try ModelAccess.callerGroups(c)
        let pipeAllowed = ModelAccess.permits(ModelAccess.pipeGroups(try PipeValves.load(c)), groups)
        let connections = try ConnectionRepository(c.db).all().filter { $0.enabled && ModelAccess.permits($0.allowedGroups, groups) }
        for connection in connections {
            switch ModelCatalog.names(of: connection, c) {
            case .success(let found):
                for name in found {
                    models.append([
                        "id": .string(name), "object": "model", "owned_by": .string(connection.name),
                        "connection_id": .number(Double(connection.id))
                    ])
                }
            case .failure(let failure):
                errors.append([
                    "connection_id": .number(Double(connection.id)), "connection": .string(connection.name),
                    "code": .string(failure.code.rawValue), "message": .string(failure.message)
                ])
            }
        }
        switch pipeAllowed ? PipeTurn.models(c) : nil {
        case .success(let names)?:
            for name in names {
                models.append([
                    "id": .string(name), "object": "model", "owned_by": "openrouter-pipe",
                    "pipe": .string(Valves.pipeID)
                ])
            }
        case .failure(let failure)?:
            errors.append(["pipe": .string(Valves.pipeID), "code": .string(failure.code.rawValue), "message": .string(failure.message)])
        case nil:
            break
        }
        let config = try c.services.runtimeConfig()
        return .json([
            "object": "list", "data": .array(models), "errors": .array(errors),
            "default_model": config.defaultModel.isEmpty ? .null : .string(config.defaultModel)
        ])
    }
}
