import Foundation
import Support
import Testing

@Suite struct UTCDayTests {
    @Test func daysMatchFoundationsCalendar() {
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        var t: Int64 = 0
        while t < 4_102_444_800 {  // 1970 to 2100, every 9 days and some hours
            let day = UTCDay.of(t)
            #expect(day == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(t))))
            #expect(UTCDay.start(of: day) == t - t % 86_400)
            #expect(UTCDay.parse(day) == day)
            t += 9 * 86_400 + 3_671
        }
    }

    @Test func secondsToMidnight() {
        #expect(UTCDay.secondsToMidnight(0) == 86_400)
        #expect(UTCDay.secondsToMidnight(86_399) == 1)
        #expect(UTCDay.secondsToMidnight(1_764_633_600 + 3_600) == 82_800)
    }

    @Test func parseRefusesWhatIsNotADay() {
        for text in [
            "2026-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "26-01-01", "2026-01-01x", "２０２６-01-01", "1969-12-31", "",
            "2026/01/01"
        ] {
            #expect(UTCDay.parse(text) == nil, "\(text)")
        }
        #expect(UTCDay.parse("2024-02-29") == "2024-02-29")
    }
}
