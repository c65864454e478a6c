import Foundation
import Testing

@testable import Support

@Suite struct LogTimestampTests {
    /// The hand-written timestamp spells what String(format:) did.
    @Test(arguments: [0, 1, 59, 946_684_799, 951_782_400, 1_767_225_599, 1_796_185_432, 4_102_444_800, 253_402_300_799])
    func matchesTheFormatString(_ seconds: Int) {
        for millis in [0, 7, 99, 999] {
            var t = time_t(seconds)
            var tm = tm()
            gmtime_r(&t, &tm)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis)
            #expect(Log.timestamp(seconds: seconds, millis: millis) == expected)
        }
    }
}
