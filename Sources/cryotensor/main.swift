import App
import FastCGI
import Foundation
import Support

// Top-level code stays a thin dispatcher: everything that runs on worker threads lives in
// `Commands` (not main-actor isolated), as ARCHITECTURE.md warns.
let arguments = Array(CommandLine.arguments.dropFirst())
exit(Commands.run(arguments, environment: ProcessInfo.processInfo.environment))
