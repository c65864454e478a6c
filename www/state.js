// What the page knows between events. Nothing here is stored in the browser: it is rebuilt
// from the API after every reload.
export const state = {
  user: null,
  identityProvider: false,  // the account is linked to the identity provider (GET /auth/me)
  chats: [],          // GET /chats, newest first
  current: null,      // the open chat's id, or null for a chat not yet created
  models: [],         // model ids from GET /models
  defaultModel: null,
  modelChoice: new Map(),  // chat id -> model picked in this page but not yet sent with a message
  inFlight: null,     // { chatId } while an answer streams
};
