import Foundation
import Service
import Support

// Top-level code stays a thin dispatcher: everything that runs on worker threads lives in
// `Commands` (not main-actor isolated), as ARCHITECTURE.md warns.
// Before anything is created: the database, its WAL and SHM, logs, archives and sockets are
// private to the service's user from the first start (a socket's mode is set explicitly after).
umask(0o077)
let arguments = Array(CommandLine.arguments.dropFirst())
exit(Commands.run(arguments, environment: ProcessInfo.processInfo.environment))
