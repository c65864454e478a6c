/// A UTC calendar day as `YYYY-MM-DD`, the key of usage and quotas. Plain integer arithmetic
/// (days since 1970-01-01 to the proleptic Gregorian calendar), no time zone database.
public enum UTCDay {
    public static let secondsPerDay: Int64 = 86_400

    /// The day of a Unix time.
    public static func of(_ unixSeconds: Int64) -> String {
        let days = unixSeconds >= 0 ? unixSeconds / secondsPerDay : (unixSeconds - secondsPerDay + 1) / secondsPerDay
        let (y, m, d) = civil(days)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : String(n) }
        var year = String(y)
        while year.count < 4 { year = "0" + year }
        return "\(year)-\(two(m))-\(two(d))"
    }

    public static var today: String { of(Clock.now()) }

    /// Seconds from `unixSeconds` to the next UTC midnight (1...86400).
    public static func secondsToMidnight(_ unixSeconds: Int64 = Clock.now()) -> Int64 {
        let into = ((unixSeconds % secondsPerDay) + secondsPerDay) % secondsPerDay
        return secondsPerDay - into
    }

    /// `YYYY-MM-DD` checked as a real date (years 1970...9999), or nil.
    public static func parse(_ text: String) -> String? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]), y >= 1970, (1...12).contains(m), d >= 1
        else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let lengths: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard d <= lengths[Int(m - 1)] else { return nil }
        return text
    }

    /// The Unix time of a day's midnight (a day from `parse` or `of`).
    public static func start(of day: String) -> Int64 {
        let parts = day.split(separator: "-").compactMap { Int64($0) }
        guard parts.count == 3 else { return 0 }
        return days(year: parts[0], month: parts[1], day: parts[2]) * secondsPerDay
    }

    /// Days since 1970-01-01 of a civil date (the inverse of `civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's civil_from_days).
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
