//! A minimal RFB (VNC) client for the baseline: it asks for full framebuffer
//! updates in ZRLE at a fixed rate and counts the bytes that arrive. It skips
//! the pixel data without decoding it; only the server's work is compared.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const ENCODING_RAW: i32 = 0;
const ENCODING_COPY_RECT: i32 = 1;
const ENCODING_ZRLE: i32 = 16;

/// A connected RFB client.
pub(crate) struct RfbClient {
    stream: CountingStream,
    width: u16,
    height: u16,
}

/// What a run of full updates cost.
pub(crate) struct RfbFigures {
    /// Updates received.
    pub(crate) updates: u64,
    /// Bytes received during the run.
    pub(crate) bytes: u64,
    /// Seconds the run took.
    pub(crate) seconds: f64,
}

impl RfbClient {
    /// Connects to an RFB server on loopback `port` without a password.
    pub(crate) fn connect(port: u16) -> Result<Self> {
        let tcp =
            TcpStream::connect(("127.0.0.1", port)).context("connecting to the VNC server")?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut stream = CountingStream { tcp, received: 0 };
        let mut version = [0u8; 12];
        stream.read_exact(&mut version)?;
        if !version.starts_with(b"RFB 003.") {
            bail!("not an RFB server");
        }
        stream.write_all(b"RFB 003.008\n")?;
        let count = stream.u8()?;
        if count == 0 {
            bail!("the VNC server refused the connection");
        }
        let mut types = vec![0u8; usize::from(count)];
        stream.read_exact(&mut types)?;
        if !types.contains(&1) {
            bail!("the VNC server wants a password; start it with -nopw");
        }
        stream.write_all(&[1])?;
        if stream.u32()? != 0 {
            bail!("the VNC server refused the security handshake");
        }
        stream.write_all(&[1])?; // ClientInit: shared
        let width = stream.u16()?;
        let height = stream.u16()?;
        let mut pixel_format = [0u8; 16];
        stream.read_exact(&mut pixel_format)?;
        let name_length = stream.u32()?;
        stream.skip(u64::from(name_length))?;

        // 32 bits per pixel, depth 24, little endian, true colour.
        let mut set_pixel_format =
            vec![0u8, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0];
        set_pixel_format.extend([0, 0, 0]);
        stream.write_all(&set_pixel_format)?;
        let mut set_encodings = vec![2u8, 0];
        set_encodings.extend(2u16.to_be_bytes());
        set_encodings.extend(ENCODING_ZRLE.to_be_bytes());
        set_encodings.extend(ENCODING_RAW.to_be_bytes());
        stream.write_all(&set_encodings)?;
        Ok(Self {
            stream,
            width,
            height,
        })
    }

    /// The framebuffer's size.
    pub(crate) fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// Asks for a full (non-incremental) update `fps` times a second for `duration`.
    pub(crate) fn full_updates(&mut self, fps: f64, duration: Duration) -> Result<RfbFigures> {
        let interval = Duration::from_secs_f64(1.0 / fps);
        let before = self.stream.received;
        let started = Instant::now();
        let mut updates = 0;
        let mut next = started;
        while started.elapsed() < duration {
            let mut request = vec![3u8, 0, 0, 0, 0, 0];
            request.extend(self.width.to_be_bytes());
            request.extend(self.height.to_be_bytes());
            self.stream.write_all(&request)?;
            self.read_update()?;
            updates += 1;
            next += interval;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        Ok(RfbFigures {
            updates,
            bytes: self.stream.received - before,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Reads server messages until a framebuffer update has been read whole.
    fn read_update(&mut self) -> Result<()> {
        loop {
            match self.stream.u8()? {
                0 => {
                    self.stream.skip(1)?;
                    let rectangles = self.stream.u16()?;
                    for _ in 0..rectangles {
                        let mut header = [0u8; 12];
                        self.stream.read_exact(&mut header)?;
                        let (w, h) = (
                            u16::from_be_bytes([header[4], header[5]]),
                            u16::from_be_bytes([header[6], header[7]]),
                        );
                        let encoding =
                            i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
                        match encoding {
                            ENCODING_ZRLE => {
                                let length = self.stream.u32()?;
                                self.stream.skip(u64::from(length))?;
                            }
                            ENCODING_RAW => self.stream.skip(u64::from(w) * u64::from(h) * 4)?,
                            ENCODING_COPY_RECT => self.stream.skip(4)?,
                            other => bail!(
                                "the VNC server used encoding {other}, which was not asked for"
                            ),
                        }
                    }
                    return Ok(());
                }
                1 => {
                    self.stream.skip(3)?;
                    let colours = self.stream.u16()?;
                    self.stream.skip(u64::from(colours) * 6)?;
                }
                2 => {}
                3 => {
                    self.stream.skip(3)?;
                    let length = self.stream.u32()?;
                    self.stream.skip(u64::from(length))?;
                }
                other => bail!("unknown RFB message type {other}"),
            }
        }
    }
}

/// A TCP stream that counts what it receives.
struct CountingStream {
    tcp: TcpStream,
    received: u64,
}

impl CountingStream {
    fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b)?;
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn skip(&mut self, count: u64) -> Result<()> {
        let copied = std::io::copy(&mut (&mut *self).take(count), &mut std::io::sink())?;
        if copied < count {
            bail!("the VNC server closed the connection");
        }
        Ok(())
    }
}

impl Read for CountingStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.received += n as u64;
        Ok(n)
    }
}

impl Write for CountingStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}
