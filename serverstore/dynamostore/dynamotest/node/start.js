// Starts dynalite (an in-memory DynamoDB) on 127.0.0.1 at a free port and
// prints "port N" once it listens. It exits when its standard input
// closes, so that it never outlives the test process that started it.
'use strict'
const dynalite = require('dynalite')

const server = dynalite({ createTableMs: 20, deleteTableMs: 20, updateTableMs: 20 })
server.listen(0, '127.0.0.1', () => {
  process.stdout.write('port ' + server.address().port + '\n')
})
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
