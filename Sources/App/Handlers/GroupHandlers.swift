import Service
import Storage
import Support

/// `GET, POST /admin/groups`, `GET, PATCH, DELETE /admin/groups/{id}` (SPEC section 12).
enum GroupHandlers {
    static let quotaKind = ValueKind.integer(0...Groups.maxQuota)
    static let createInput = InputSpec([
        .required("name", .line(max: GroupRepository.maxNameBytes)), .optional("members", .idList(max: Groups.maxMembers)),
        .optional("daily_token_quota", quotaKind)
    ])
    static let updateInput = InputSpec([
        .optional("name", .line(max: GroupRepository.maxNameBytes)), .optional("members", .idList(max: Groups.maxMembers)),
        .optional("daily_token_quota", quotaKind)
    ])

    static func ids(_ value: JSON?) -> [Int64]? { value?.arrayValue?.compactMap { $0.intValue.map(Int64.init) } }

    static func list(_ c: Context) throws -> Response {
        .json(["groups": .array(try GroupRepository(c.db).all().map(Groups.json))])
    }

    static func get(_ c: Context) throws -> Response {
        guard let group = try GroupRepository(c.db).find(id: try c.id()) else { throw ServiceError.notFound }
        return .json(Groups.json(group))
    }

    static func create(_ c: Context) throws -> Response {
        let input = try c.input(createInput)
        let group = try Groups.create(
            c, name: try input.requiredString("name"), members: ids(input.raw("members")) ?? [],
            quota: input.int("daily_token_quota").map(Int64.init))
        return .json(Groups.json(group), status: 201)
    }

    static func update(_ c: Context) throws -> Response {
        let input = try c.input(updateInput)
        var change = GroupChange(name: input.string("name"), members: ids(input.raw("members")))
        // `"daily_token_quota": null` clears the quota; leaving the field out keeps it.
        if input.document["daily_token_quota"] == .null {
            change.quota = .some(nil)
        } else if let quota = input.int("daily_token_quota") {
            change.quota = .some(Int64(quota))
        }
        return .json(Groups.json(try Groups.update(c, id: try c.id(), change)))
    }

    static func delete(_ c: Context) throws -> Response {
        try Groups.delete(c, id: try c.id())
        return .noContent()
    }
}

/// `GET /usage` (own) and `GET /admin/usage` (everyone, or one `user`).
enum UsageHandlers {
    /// `YYYY-MM-DD` or Unix seconds; UsageReport.range checks which.
    static let dayKind = ValueKind.line(max: 11)
    static let ownInput = InputSpec([.optional("since", dayKind), .optional("until", dayKind)])
    static let adminInput = InputSpec([
        .optional("since", dayKind), .optional("until", dayKind), .optional("user", .line(max: 254))
    ])

    static func own(_ c: Context) throws -> Response {
        let input = try c.queryInput(ownInput)
        return .json(try UsageReport.own(c, since: input.string("since"), until: input.string("until")))
    }

    static func all(_ c: Context) throws -> Response {
        let input = try c.queryInput(adminInput)
        return .json(try UsageReport.all(c, user: input.string("user"), since: input.string("since"), until: input.string("until")))
    }
}
