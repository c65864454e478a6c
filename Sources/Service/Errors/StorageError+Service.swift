import Storage

extension ServiceError {
    /// SQLite's failures as the API reports them: a locked database is worth a retry, a broken
    /// constraint is a conflict, anything else is the service's fault.
    package init(storage error: StorageError) {
        switch error.kind {
        case .busy:
            self.init(.databaseBusy, "The database is busy. Try again.")
            retryAfter = 1
        case .constraint:
            self.init(.conflict, "This conflicts with an existing record.")
        case .invalidValue:
            // PostgreSQL's text cannot hold U+0000 (SQLite's can): the same refusal either way a value arrives.
            self.init(.invalidField, "A value holds a character that cannot be stored (U+0000).")
        default:
            self.init(.internalError, "Something went wrong. The request id is in the X-Request-Id header.")
        }
    }
}
