import Service
import Storage
import Support

/// `GET /admin/audit`: the trail, newest first, filtered, a page at a time.
enum AuditHandlers {
    static let actorTypes = ["user", "token", "operator", "system"]
    static let timeRange = 0...(Int(Int32.max) * 64)

    static let listInput = InputSpec([
        .optional("action", .oneOf(AuditAction.allCases.map(\.rawValue))),
        // An email names a person; a type names the operator, the service, or every token.
        .optional(
            "actor",
            .custom { value in
                guard let s = value.stringValue else { return "must be an email or one of: user, token, operator, system" }
                return actorTypes.contains(s) || EmailAddress.isValid(s) ? nil : "must be an email or one of: user, token, operator, system"
            }),
        .optional("since", .integer(timeRange)), .optional("until", .integer(timeRange)),
        .optional("before", .integer(1...Int.max)), .optional("limit", .integer(1...AuditReader.maxLimit))
    ])

    static func list(_ c: Context) throws -> Response {
        let input = try c.queryInput(listInput)
        var query = AuditQuery(action: input.string("action"), limit: input.int("limit") ?? 100)
        if let actor = input.string("actor") {
            if actorTypes.contains(actor) { query.actorType = actor } else { query.actorEmail = actor }
        }
        query.since = input.int("since").map(Int64.init)
        query.until = input.int("until").map(Int64.init)
        query.before = input.int("before").map(Int64.init)
        if let since = query.since, let until = query.until, since > until {
            throw ServiceError.invalidField("until", "'until' must not be before 'since'.")
        }
        let page = try AuditReader.page(db: c.db, query)
        return .json(["events": .array(page.events.map(\.json)), "next_before": page.nextBefore.map { .number(Double($0)) } ?? .null])
    }
}
