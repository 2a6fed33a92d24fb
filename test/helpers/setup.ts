// every test process gets the Promise.withResolvers polyfill libp2p 3 needs on Node 20
import '../../node/polyfill.js'
