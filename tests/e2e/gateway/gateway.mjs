// A real Wechaty puppet service (gRPC, TLS off, loopback) around a mock WeChat, for qinlin's
// end-to-end tests. Line protocol: one JSON command per stdin line, one JSON event per stdout line.
//   {"cmd":"contact","name":"张阿姨","id"?}                   -> {"event":"contact","name","id"}
//   {"cmd":"room","topic":"江南新村3号楼","members":["张阿姨"],"id"?} -> {"event":"room","topic","id"}
// (ids are optional: a restarted gateway is given the ids of the first, as WeChat's are stable)
//   {"cmd":"login"}                                            -> {"event":"login","id"}
//   {"cmd":"say","from":"张阿姨","room":"江南新村3号楼"|null,"text":"…"}  (room null: private to the bot)
//   {"cmd":"say_file","from":"孙师傅","room":"…"|null,"name":"voice.sil"}  a non-text message:
//      .sil is a voice message, .jpg an image, .pdf a file (the mock types it by extension)
//   {"cmd":"topic","room":"江南新村3号楼","topic":"新名字"}       -> {"event":"topic"}
//   {"cmd":"sync"}  answered after every event before it was written          -> {"event":"sync"}
//   {"cmd":"slow_acks","ms":1500}  WeChat answers every later send that much later (the message
//      itself goes out, and is echoed, at once)                   -> {"event":"slow_acks"}
// Whatever the bot sends comes out as {"event":"bot_said","id","room","to","text","file","size","mentions"},
// a recall as {"event":"bot_recalled","id","recalled"} (true within WeChat's two minutes).
// Usage: node gateway.mjs PORT TOKEN
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import readline from 'node:readline'

import { FileBox } from 'file-box'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const [port, token] = process.argv.slice(2)
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n')
const files = mkdtempSync(join(tmpdir(), 'qinlin-gateway-'))

const mocker = new mock.Mocker()
const puppet = new PuppetMock({ mocker })
const botUser = mocker.createContact({ id: 'qinlin-bot', name: '亲邻助手' })
const contacts = new Map()
const rooms = new Map()

// WeChat answers a send with the new message's id, which a recall needs; the mock answers
// nothing, so hand back the id of the message the send created (emitted synchronously).
const sentAt = new Map()
let ackDelay = 0
for (const name of ['messageSendText', 'messageSendFile']) {
  const send = puppet[name].bind(puppet)
  puppet[name] = async (...args) => {
    let id
    const grab = ({ messageId }) => { id ??= messageId }
    puppet.on('message', grab)
    try { await send(...args) } finally { puppet.off('message', grab) }
    sentAt.set(id, Date.now())
    if (ackDelay) await new Promise((resolve) => setTimeout(resolve, ackDelay))
    return id
  }
}
// WeChat's rule: the sender may recall a message for two minutes; the mock always says no.
puppet.messageRecall = async (messageId) => {
  const recalled = sentAt.has(messageId) && Date.now() - sentAt.get(messageId) < 120_000
  emit({ event: 'bot_recalled', id: messageId, recalled })
  return recalled
}

const server = new PuppetServer({ endpoint: `127.0.0.1:${port}`, puppet, token, tls: { disable: true } })

puppet.on('message', async ({ messageId }) => {
  try {
    const payload = await puppet.messagePayload(messageId)
    if (payload.talkerId !== botUser.id) return
    const room = payload.roomId ? [...rooms.values()].find((r) => r.id === payload.roomId) : undefined
    const to = payload.listenerId ? [...contacts.entries()].find(([, c]) => c.id === payload.listenerId) : undefined
    const event = { event: 'bot_said', id: messageId, room: room ? room.payload.topic : null, to: to ? to[0] : null,
                    text: payload.text ?? '', file: null, size: null, mentions: payload.mentionIdList ?? [] }
    if (payload.type !== 7) {  // not text: a file the bot sent (ledger, chart)
      const box = await puppet.messageFile(messageId)
      const buffer = await box.toBuffer()
      const path = join(files, `${messageId}-${box.name}`)
      writeFileSync(path, buffer)
      event.file = path
      event.size = buffer.length
      event.text = box.name
    }
    emit(event)
  } catch (error) {
    emit({ event: 'error', message: String(error) })
  }
})

const handlers = {
  contact ({ name, id }) {
    const contact = mocker.createContact(id ? { id, name } : { name })
    contacts.set(name, contact)
    emit({ event: 'contact', name, id: contact.id })
  },
  room ({ topic, members, id }) {
    const memberIdList = [botUser.id, ...members.map((name) => contacts.get(name).id)]
    const room = mocker.createRoom(id ? { id, topic, memberIdList } : { topic, memberIdList })
    rooms.set(topic, room)
    emit({ event: 'room', topic, id: room.id })
  },
  async login () {
    // A login emitted before the client's event stream is attached is lost, and a second login
    // is refused. So wait until the service has subscribed to the puppet's login event and the
    // puppet is logged out: a client that connects calls stop() first, which logs out a puppet
    // left logged in by a client that was killed.
    for (let waited = 0; (puppet.listenerCount('login') === 0 || puppet.isLoggedIn) && waited < 60_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (!puppet.isLoggedIn) mocker.login(botUser)
    emit({ event: 'login', id: botUser.id })
  },
  sync () {
    setImmediate(() => emit({ event: 'sync' }))  // after the bot_said events of sends already made
  },
  slow_acks ({ ms }) {
    ackDelay = ms
    emit({ event: 'slow_acks' })
  },
  say ({ from, room, text }) {
    const contact = contacts.get(from)
    contact.say(text).to(room ? rooms.get(room) : botUser)
    emit({ event: 'said' })
  },
  say_file ({ from, room, name }) {
    const contact = contacts.get(from)
    contact.say(FileBox.fromBase64(Buffer.from('not a real recording').toString('base64'), name)).to(room ? rooms.get(room) : botUser)
    emit({ event: 'said' })
  },
}

await server.start()
emit({ event: 'ready', port: Number(port) })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (!line.trim()) return
  try {
    const command = JSON.parse(line)
    Promise.resolve(handlers[command.cmd](command)).catch((error) => emit({ event: 'error', message: String(error) }))
  } catch (error) {
    emit({ event: 'error', message: String(error) })
  }
})
lines.on('close', async () => {
  await server.stop()
  process.exit(0)
})
