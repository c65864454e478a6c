import CPostgres

/// A result in libpq's binary form, read in place by row and column. Owned: cleared on deinit.
public final class PostgresResult {
    let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    public var rowCount: Int32 { PQntuples(result) }
    public var columnCount: Int32 { PQnfields(result) }
    /// Rows a command changed (`UPDATE`, `DELETE`, `INSERT`): libpq gives it as text.
    public var changedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    public func columnName(_ column: Int32) -> String { String(cString: PQfname(result, column)) }
    public func type(_ column: Int32) -> PostgresType { PostgresType(oid: PQftype(result, column)) }
    public func isNull(_ row: Int32, _ column: Int32) -> Bool { PQgetisnull(result, row, column) == 1 }

    /// The value's bytes, valid while this result lives.
    public func bytes(_ row: Int32, _ column: Int32) -> UnsafeRawBufferPointer {
        guard let value = PQgetvalue(result, row, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(result, row, column)))
    }

    /// An integer column (int2, int4, int8, oid, bool, or a numeric without fraction); nil for
    /// other types or a value of the wrong length.
    public func integer(_ row: Int32, _ column: Int32) -> Int64? {
        let value = bytes(row, column)
        switch type(column) {
        case .int8 where value.count == 8: return Int64(bigEndian: value.loadUnaligned(as: Int64.self))
        case .int4 where value.count == 4: return Int64(Int32(bigEndian: value.loadUnaligned(as: Int32.self)))
        case .int2 where value.count == 2: return Int64(Int16(bigEndian: value.loadUnaligned(as: Int16.self)))
        case .oid where value.count == 4: return Int64(UInt32(bigEndian: value.loadUnaligned(as: UInt32.self)))
        case .bool where value.count == 1: return value[0] == 0 ? 0 : 1
        case .numeric: return PostgresNumeric.decode(value).flatMap { Int64(exactly: $0) }
        default: return nil
        }
    }

    public func real(_ row: Int32, _ column: Int32) -> Double? {
        let value = bytes(row, column)
        switch type(column) {
        case .float8 where value.count == 8: return Double(bitPattern: UInt64(bigEndian: value.loadUnaligned(as: UInt64.self)))
        case .float4 where value.count == 4: return Double(Float(bitPattern: UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))))
        case .numeric: return PostgresNumeric.decode(value)
        default: return nil
        }
    }
}

/// The column types the store reads, by their fixed OIDs (`pg_type.dat`).
public enum PostgresType: Equatable, Sendable {
    case bool, bytea, int8, int2, int4, text, oid, float4, float8, numeric, other(UInt32)

    init(oid: UInt32) {
        switch oid {
        case 16: self = .bool
        case 17: self = .bytea
        case 20: self = .int8
        case 21: self = .int2
        case 23: self = .int4
        case 25, 1043, 1042, 19, 18: self = .text  // text, varchar, bpchar, name, "char": UTF-8 bytes
        case 26: self = .oid
        case 700: self = .float4
        case 701: self = .float8
        case 1700: self = .numeric
        default: self = .other(oid)
        }
    }

    public var isInteger: Bool { [.bool, .int2, .int4, .int8, .oid].contains(self) }
}

/// Binary `numeric` (what SUM over integers gives): a sign, a weight and base-10000 digits.
enum PostgresNumeric {
    static func decode(_ value: UnsafeRawBufferPointer) -> Double? {
        guard value.count >= 8 else { return nil }
        func word(_ i: Int) -> Int16 { Int16(bigEndian: value.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)) }
        let count = Int(word(0))
        let weight = Int(word(1))
        let sign = UInt16(bitPattern: word(2))
        guard count >= 0, value.count == 8 + count * 2, sign == 0 || sign == 0x4000 else { return nil }
        var total = 0.0
        for i in 0..<count {
            let digit = Double(word(4 + i))
            total += digit * pow10000(weight - i)
        }
        return sign == 0x4000 ? -total : total
    }

    static func pow10000(_ exponent: Int) -> Double {
        var out = 1.0
        for _ in 0..<abs(exponent) { out *= 10000 }
        return exponent < 0 ? 1 / out : out
    }
}
