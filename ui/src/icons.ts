// Small inline icons (no icon font, no emoji: both may be missing on a school PC).
const svg = (path: string) =>
  `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="${path}"/></svg>`;

export const icons = {
  camera: svg("M4 7h3l2-2h6l2 2h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1Zm8 3a4 4 0 1 0 0 8 4 4 0 0 0 0-8Z"),
  play: svg("M7 4v16l13-8Z"),
  globe: svg("M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm6.9 9h-3a15 15 0 0 0-1.3-6A8 8 0 0 1 18.9 11ZM12 4c.9 1.2 1.8 3.6 2 7h-4c.2-3.4 1.1-5.8 2-7ZM9.4 5a15 15 0 0 0-1.3 6h-3A8 8 0 0 1 9.4 5ZM5.1 13h3a15 15 0 0 0 1.3 6A8 8 0 0 1 5.1 13ZM12 20c-.9-1.2-1.8-3.6-2-7h4c-.2 3.4-1.1 5.8-2 7Zm2.6-1a15 15 0 0 0 1.3-6h3a8 8 0 0 1-4.3 6Z"),
  images: svg("M3 5h14v11H3Zm2 9h10l-3-4-2 3-2-2Zm15-6v11H7v-2h11V8Z"),
  check: svg("M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4Z"),
  close: svg("M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6Z"),
  star: svg("m12 17.3 6.2 3.7-1.6-7 5.4-4.7-7.2-.6L12 2 9.2 8.7 2 9.3l5.4 4.7-1.6 7Z"),
  expand: svg("M4 4h6v2H6v4H4Zm10 0h6v6h-2V6h-4ZM4 14h2v4h4v2H4Zm14 0h2v6h-6v-2h4Z"),
  lock: svg("M7 10V7a5 5 0 0 1 10 0v3h1a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1Zm2 0h6V7a3 3 0 0 0-6 0Z"),
  unlock: svg("M9 10h9a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h1V7a5 5 0 0 1 9.6-2l-1.8.9A3 3 0 0 0 9 7Z"),
  message: svg("M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4V5a1 1 0 0 1 1-1Zm3 4v2h10V8Zm0 4v2h7v-2Z"),
  mouse: svg("M11 2v8H5V9a6 6 0 0 1 6-7Zm2 0a6 6 0 0 1 6 7v1h-6Zm-8 10h14v3a7 7 0 0 1-14 0Z"),
  clipboard: svg("M9 2h6a1 1 0 0 1 1 1v1h2a1 1 0 0 1 1 1v15a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1h2V3a1 1 0 0 1 1-1Zm1 2v2h4V4ZM8 10v2h8v-2Zm0 4v2h6v-2Z"),
  broadcast: svg("M3 4h18a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1Zm1 2v9h16V6Zm8 1.5a3 3 0 1 1 0 6 3 3 0 0 1 0-6Z"),
  power: svg("M11 3h2v10h-2Zm-4.2 2.7 1.4 1.4a6 6 0 1 0 7.6 0l1.4-1.4a8 8 0 1 1-10.4 0Z"),
  send: svg("M6 2h8l5 5v6h-2V8h-4V4H6v16h7v2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2Zm12 13 4 3.5-4 3.5v-2.5h-4v-2h4Z"),
  collect: svg("M3 13h5l1 3h6l1-3h5v7a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1Zm8-11h2v7h3l-4 4-4-4h3Z"),
  folder: svg("M3 5a1 1 0 0 1 1-1h6l2 2h8a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1Z"),
  desk: svg("M7 4h10a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1h-4v2h7v2h-2v4h-2v-4H8v4H6v-4H4v-2h7v-2H7a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1Z"),
};
