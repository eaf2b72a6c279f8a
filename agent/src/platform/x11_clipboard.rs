//! The X11 clipboard (the `CLIPBOARD` selection) for remote control (R3):
//! text the teacher puts there is owned by a window of the helper, which
//! hands it to whichever program the student pastes into, until another
//! program takes the clipboard over; text the student copied is asked of its
//! owner and read from a property.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pult_protocol::input::InputEvent;
use xcb::{Xid, x};

use super::x11_ui::{connect, intern};

/// How long the clipboard's owner has to hand its text over.
const ANSWER: Duration = Duration::from_secs(2);

/// The session's clipboard, as the helper sees it.
#[derive(Default)]
pub struct X11Clipboard {
    /// The text this helper offers while it owns the clipboard.
    offered: Option<Arc<Mutex<Option<String>>>>,
}

struct Atoms {
    clipboard: x::Atom,
    utf8: x::Atom,
    targets: x::Atom,
    text: x::Atom,
    property: x::Atom,
    incr: x::Atom,
}

impl Atoms {
    fn of(connection: &xcb::Connection) -> Self {
        Self {
            clipboard: intern(connection, "CLIPBOARD"),
            utf8: intern(connection, "UTF8_STRING"),
            targets: intern(connection, "TARGETS"),
            text: intern(connection, "TEXT"),
            property: intern(connection, "PULT_CLIPBOARD"),
            incr: intern(connection, "INCR"),
        }
    }
}

/// A window of its own, never mapped: owner and requestor of selections.
fn hidden_window(connection: &xcb::Connection, root: x::Window) -> Result<x::Window, String> {
    let window: x::Window = connection.generate_id();
    connection
        .send_and_check_request(&x::CreateWindow {
            depth: 0,
            wid: window,
            parent: root,
            x: -10,
            y: -10,
            width: 1,
            height: 1,
            border_width: 0,
            class: x::WindowClass::InputOnly,
            visual: x::COPY_FROM_PARENT,
            value_list: &[x::Cw::EventMask(x::EventMask::PROPERTY_CHANGE)],
        })
        .map_err(|e| format!("cannot create the clipboard window: {e}"))?;
    Ok(window)
}

impl X11Clipboard {
    /// Puts `text` on the clipboard: a thread owns the selection and answers
    /// every paste until another program takes the clipboard.
    pub fn set(&mut self, text: &str) -> Result<(), String> {
        // While this helper still owns the clipboard, only the text changes.
        if let Some(offered) = &self.offered {
            let mut current = offered.lock().unwrap_or_else(|p| p.into_inner());
            if current.is_some() {
                *current = Some(text.to_owned());
                return Ok(());
            }
        }
        let (connection, screen) = connect(None)?;
        let atoms = Atoms::of(&connection);
        let window = hidden_window(&connection, screen.root)?;
        connection.send_request(&x::SetSelectionOwner {
            owner: window,
            selection: atoms.clipboard,
            time: x::CURRENT_TIME,
        });
        let owner = connection
            .wait_for_reply(connection.send_request(&x::GetSelectionOwner {
                selection: atoms.clipboard,
            }))
            .map_err(|e| e.to_string())?
            .owner();
        if owner != window {
            return Err("the X server did not give the clipboard to the helper".into());
        }
        let offered = Arc::new(Mutex::new(Some(text.to_owned())));
        let serving = offered.clone();
        std::thread::Builder::new()
            .name("pult-clipboard".into())
            .spawn(move || serve(&connection, &atoms, &serving))
            .map_err(|e| e.to_string())?;
        self.offered = Some(offered);
        Ok(())
    }

    /// The text on the clipboard; empty when nobody owns it or it holds no text.
    pub fn get(&mut self) -> Result<String, String> {
        if let Some(text) = self
            .offered
            .as_ref()
            .and_then(|o| o.lock().unwrap_or_else(|p| p.into_inner()).clone())
        {
            return Ok(text);
        }
        let (connection, screen) = connect(None)?;
        let atoms = Atoms::of(&connection);
        let owner = connection
            .wait_for_reply(connection.send_request(&x::GetSelectionOwner {
                selection: atoms.clipboard,
            }))
            .map_err(|e| e.to_string())?
            .owner();
        if owner == x::Window::none() {
            return Ok(String::new());
        }
        let window = hidden_window(&connection, screen.root)?;
        connection.send_request(&x::ConvertSelection {
            requestor: window,
            selection: atoms.clipboard,
            target: atoms.utf8,
            property: atoms.property,
            time: x::CURRENT_TIME,
        });
        connection.flush().map_err(|e| e.to_string())?;
        let asked = Instant::now();
        let notified = loop {
            match connection.poll_for_event().map_err(|e| e.to_string())? {
                Some(xcb::Event::X(x::Event::SelectionNotify(event))) => break event,
                Some(_) => {}
                None if asked.elapsed() > ANSWER => {
                    return Err("the program that holds the clipboard did not hand it over".into());
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        if notified.property() == x::ATOM_NONE {
            return Ok(String::new()); // not text (a picture, files)
        }
        let reply = connection
            .wait_for_reply(connection.send_request(&x::GetProperty {
                delete: true,
                window,
                property: atoms.property,
                r#type: x::ATOM_ANY,
                long_offset: 0,
                // What a console is carried, in 32-bit units; a student's
                // program may offer far more, which is never read.
                long_length: (InputEvent::MAX_CLIPBOARD_BYTES / 4 + 1) as u32,
            }))
            .map_err(|e| e.to_string())?;
        if reply.r#type() == atoms.incr {
            return Err("the clipboard holds more text than is carried".into());
        }
        Ok(String::from_utf8_lossy(reply.value::<u8>()).into_owned())
    }
}

/// Answers requests for the clipboard until another program owns it.
fn serve(connection: &xcb::Connection, atoms: &Atoms, offered: &Mutex<Option<String>>) {
    loop {
        let event = match connection.wait_for_event() {
            Ok(event) => event,
            // An error of one request (a requestor's window gone mid-paste)
            // ends nothing; a lost connection ends everything.
            Err(xcb::Error::Protocol(error)) => {
                tracing::debug!("clipboard: {error:?}");
                continue;
            }
            Err(xcb::Error::Connection(_)) => break,
        };
        match event {
            xcb::Event::X(x::Event::SelectionClear(_)) => break,
            xcb::Event::X(x::Event::SelectionRequest(request)) => {
                let text = offered.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let property = match request.property() {
                    // Old clients name no property: the target is used.
                    x::ATOM_NONE => request.target(),
                    property => property,
                };
                let answered = match (text, request.target()) {
                    (Some(_), target) if target == atoms.targets => {
                        connection.send_request(&x::ChangeProperty {
                            mode: x::PropMode::Replace,
                            window: request.requestor(),
                            property,
                            r#type: x::ATOM_ATOM,
                            data: &[atoms.targets, atoms.utf8, atoms.text, x::ATOM_STRING],
                        });
                        true
                    }
                    (Some(text), target)
                        if target == atoms.utf8
                            || target == atoms.text
                            || target == x::ATOM_STRING =>
                    {
                        connection.send_request(&x::ChangeProperty {
                            mode: x::PropMode::Replace,
                            window: request.requestor(),
                            property,
                            r#type: if target == x::ATOM_STRING {
                                x::ATOM_STRING
                            } else {
                                atoms.utf8
                            },
                            data: text.as_bytes(),
                        });
                        true
                    }
                    _ => false,
                };
                let notify = x::SelectionNotifyEvent::new(
                    request.time(),
                    request.requestor(),
                    request.selection(),
                    request.target(),
                    if answered { property } else { x::ATOM_NONE },
                );
                connection.send_request(&x::SendEvent {
                    propagate: false,
                    destination: x::SendEventDest::Window(request.requestor()),
                    event_mask: x::EventMask::empty(),
                    event: &notify,
                });
                let _ = connection.flush();
            }
            _ => {}
        }
    }
    *offered.lock().unwrap_or_else(|p| p.into_inner()) = None;
}
