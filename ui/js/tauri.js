// The few Tauri entry points the UI uses, wrapped so the Rust side binds plain
// functions. `window.__TAURI__` exists because tauri.conf.json sets
// app.withGlobalTauri; nothing here loads code from anywhere else.
export async function invoke(cmd, args) {
  return await window.__TAURI__.core.invoke(cmd, args);
}

export function makeChannel(onMessage) {
  const channel = new window.__TAURI__.core.Channel();
  channel.onmessage = onMessage;
  return channel;
}

export async function listen(event, handler) {
  return await window.__TAURI__.event.listen(event, (e) => handler(e.payload));
}

export function setArg(args, key, value) {
  args[key] = value;
  return args;
}
