import Crypto
import Storage
import Support

/// The keys of the chain: an HKDF subkey (label `audit`) of `CONFIG_ENCRYPTION_KEY` and of each
/// previous key, named by the keyring's public key id, so events made before a rotation still
/// verify. Without a key, events are chained with plain SHA-256 under the id `sha256`: that
/// detects an edited, deleted or inserted row, but not a rewrite of the whole chain from there on.
public struct AuditKeys: Sendable {
    public static let keylessID = "sha256"
    let current: (id: String, key: [UInt8])?
    let all: [String: [UInt8]]

    public init(current: String?, previous: [String]) {
        func entry(_ master: String) -> (id: String, key: [UInt8]) { (Keyring.keyID(master), Subkey.derive(master, "audit")) }
        self.current = current.map(entry)
        var all: [String: [UInt8]] = [:]
        for master in previous { let e = entry(master); all[e.id] = e.key }
        if let current = self.current { all[current.id] = current.key }
        self.all = all
    }

    public init(config: Config) {
        self.init(current: config.encryptionKey?.reveal(), previous: config.previousEncryptionKeys.map { $0.reveal() })
    }

    public var currentID: String { current?.id ?? Self.keylessID }
}

/// The chained form of an event: its fields in a fixed order as a JSON array (one unambiguous
/// byte string), then the previous event's mac.
enum AuditChain {
    static func canonical(_ e: AuditRow) -> [UInt8] {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        let fields: JSON = [
            "cryotensor audit v1", .number(Double(e.id)), .number(Double(e.ts)), .string(e.actorType),
            e.actorUserID.map { .number(Double($0)) } ?? .null, opt(e.actorEmail), opt(e.client), opt(e.requestID),
            .string(e.action), opt(e.targetType), opt(e.targetID), opt(e.targetName), .string(e.outcome), .string(e.details),
            .number(Double(e.prevID)), .string(e.keyID)
        ]
        return Array(fields.serialized().utf8)
    }

    /// The mac of `e` after `previousMAC`; nil when its key is not among the configured ones.
    static func mac(_ e: AuditRow, previousMAC: String, keys: AuditKeys) -> String? {
        let data = canonical(e) + Array(("\n" + previousMAC).utf8)
        if e.keyID == AuditKeys.keylessID { return Encoding.hex(Digest.sha256(data)) }
        guard let key = keys.all[e.keyID] else { return nil }
        return Encoding.hex(Digest.hmacSHA256(key: key, data: data))
    }
}

/// What `cryotensor audit verify` found.
public struct AuditVerification: Sendable {
    public enum Problem: String, Sendable { case edited, deleted, inserted, unknownKey = "unknown_key", downgraded }
    public struct Failure: Sendable, Equatable {
        public let eventID: Int64
        public let problem: Problem
        public let message: String
    }
    public var checked = 0
    public var keyless = 0
    public var firstID: Int64?
    public var lastID: Int64?
    public var failure: Failure?

    public var isWhole: Bool { failure == nil }
}

public enum AuditVerifier {
    /// Walks the chain from the checkpoint (or the start) in id order and stops at the first event
    /// that fails: its mac does not match (edited, or inserted without the key), it names a
    /// predecessor that is gone (deleted), or it is keyless after keyed events (downgraded).
    public static func verify(db: Database, keys: AuditKeys) throws -> AuditVerification {
        let repo = AuditRepository(db)
        var result = AuditVerification()
        let start = try repo.checkpoint()
        var expectedPrev = start?.beforeID ?? 0
        var previousMAC = start?.beforeMAC ?? ""
        var seenKeyed = false
        // A checkpoint is only as good as the keyed retention.cleanup event that recorded it.
        var checkpointAttested = start == nil
        var after: Int64 = 0
        var pending: [AuditRow] = []
        func fail(_ id: Int64, _ problem: AuditVerification.Problem, _ message: String) -> AuditVerification {
            result.failure = .init(eventID: id, problem: problem, message: message)
            return result
        }
        while true {
            if pending.count < 2 {
                let page = try repo.events(AuditQuery(after: after, limit: 500, ascending: true))
                after = page.last?.id ?? after
                pending += page
            }
            guard let row = pending.first else {
                if let start, !checkpointAttested {
                    return fail(
                        start.beforeID, .deleted,
                        "the chain starts after event \(start.beforeID), but no retention.cleanup "
                            + "event records that checkpoint: the oldest events were deleted outside retention")
                }
                return result
            }
            pending.removeFirst()
            if row.prevID > expectedPrev {
                return fail(row.id, .deleted, "event \(row.id) follows event \(row.prevID), which is missing: deleted")
            }
            if row.prevID < expectedPrev {
                return fail(
                    row.id, .inserted,
                    "event \(row.id) names event \(row.prevID) as its predecessor, but event "
                        + "\(expectedPrev) came between: one of them was inserted")
            }
            if row.keyID == AuditKeys.keylessID, seenKeyed {
                return fail(row.id, .downgraded, "event \(row.id) is keyless after keyed events: forged without the key")
            }
            guard let expected = AuditChain.mac(row, previousMAC: previousMAC, keys: keys) else {
                return fail(
                    row.id, .unknownKey,
                    "event \(row.id) was made with key \(row.keyID), which is neither "
                        + "CONFIG_ENCRYPTION_KEY nor in CONFIG_ENCRYPTION_KEY_PREVIOUS")
            }
            guard Encoding.constantTimeEqual(Array(expected.utf8), Array(row.mac.utf8)) else {
                if let next = pending.first, next.prevID == row.prevID {
                    return fail(
                        row.id, .inserted,
                        "event \(row.id) is not in the chain (event \(next.id) follows "
                            + "event \(row.prevID)): inserted")
                }
                return fail(row.id, .edited, "event \(row.id) does not match its mac: edited, or inserted without the key")
            }
            if row.keyID == AuditKeys.keylessID { result.keyless += 1 } else { seenKeyed = true }
            if let start, row.action == "retention.cleanup", let recorded = (try? JSON.parse(row.details))?["checkpoint"],
                recorded["before_id"]?.intValue.map(Int64.init) == start.beforeID, recorded["before_mac"]?.stringValue == start.beforeMAC
            {
                checkpointAttested = true
            }
            result.checked += 1
            result.firstID = result.firstID ?? row.id
            result.lastID = row.id
            expectedPrev = row.id
            previousMAC = row.mac
        }
    }
}
