//! Uploaded documents: which ones an application needs, and what is accepted. The type is decided
//! by the content, never by the name or the declared type; images are measured from their headers
//! before anything decodes them, so that a small file that would decompress to gigapixels is
//! refused; file names are only ever metadata, and names that try to climb directories are refused.

use serde::{Deserialize, Serialize};

use crate::application::BusinessType;

/// The largest document accepted, in bytes (5 MiB).
pub const DOCUMENT_BYTES_MAX: usize = 5 * 1024 * 1024;
/// The most pixels an image may have (40 megapixels: a phone photo is 12).
pub const IMAGE_PIXELS_MAX: u64 = 40_000_000;
/// The longest side an image may have.
pub const IMAGE_SIDE_MAX: u32 = 16_384;
/// The longest file name kept.
pub const FILE_NAME_LEN_MAX: usize = 255;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// ID card, portrait side (人像面).
    IdCardFront,
    /// ID card, national emblem side (国徽面).
    IdCardBack,
    /// Business licence (营业执照).
    BusinessLicence,
    /// Tax registration (税务登记证).
    TaxRegistration,
    /// Bank account permit (开户许可证).
    BankAccountPermit,
    /// Storefront photo (门头照).
    StorefrontPhoto,
}

impl DocumentKind {
    /// Every kind, in the order an applicant is asked for them.
    pub const ALL: [DocumentKind; 6] = [
        DocumentKind::IdCardFront,
        DocumentKind::IdCardBack,
        DocumentKind::BusinessLicence,
        DocumentKind::TaxRegistration,
        DocumentKind::BankAccountPermit,
        DocumentKind::StorefrontPhoto,
    ];

    /// The API name, e.g. `id_card_front`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdCardFront => "id_card_front",
            DocumentKind::IdCardBack => "id_card_back",
            DocumentKind::BusinessLicence => "business_licence",
            DocumentKind::TaxRegistration => "tax_registration",
            DocumentKind::BankAccountPermit => "bank_account_permit",
            DocumentKind::StorefrontPhoto => "storefront_photo",
        }
    }

    /// The kind with this API name.
    pub fn parse(name: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The documents a business type must upload before it can submit: everyone proves who they are
    /// and shows the shop; licensed businesses add the licence; enterprises (who are paid to a
    /// company account) add the tax registration and the bank account permit.
    pub fn required_for(business_type: BusinessType) -> Vec<DocumentKind> {
        use DocumentKind::*;
        match business_type {
            BusinessType::Individual => vec![IdCardFront, IdCardBack, StorefrontPhoto],
            BusinessType::IndividualBusiness => vec![IdCardFront, IdCardBack, BusinessLicence, StorefrontPhoto],
            BusinessType::Enterprise => {
                vec![IdCardFront, IdCardBack, BusinessLicence, TaxRegistration, BankAccountPermit, StorefrontPhoto]
            }
        }
    }
}

/// The accepted content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    /// JPEG image.
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// PNG image.
    #[serde(rename = "image/png")]
    Png,
    /// PDF document.
    #[serde(rename = "application/pdf")]
    Pdf,
}

impl ContentType {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Pdf => "application/pdf",
        }
    }

    /// From a MIME type (parameters ignored).
    pub fn from_mime(mime: &str) -> Option<ContentType> {
        let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" => Some(ContentType::Jpeg),
            "image/png" => Some(ContentType::Png),
            "application/pdf" => Some(ContentType::Pdf),
            _ => None,
        }
    }
}

/// Why a document was refused; each has a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentProblem {
    /// Empty.
    Empty,
    /// Larger than [`DOCUMENT_BYTES_MAX`].
    TooLarge,
    /// Not a JPEG, PNG or PDF by its content.
    UnsupportedType,
    /// The declared type is not what the content is.
    TypeMismatch,
    /// An image whose header cannot be read.
    Unreadable,
    /// An image with more pixels or a longer side than accepted (a decompression bomb, or simply too big).
    TooManyPixels,
    /// A PDF with active content (scripts, launch actions, embedded files).
    ActiveContent,
    /// A file name that is empty, too long, has path separators, `..`, or control characters.
    BadFileName,
}

impl DocumentProblem {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            DocumentProblem::Empty => "document_empty",
            DocumentProblem::TooLarge => "document_too_large",
            DocumentProblem::UnsupportedType => "unsupported_document_type",
            DocumentProblem::TypeMismatch => "document_type_mismatch",
            DocumentProblem::Unreadable => "document_unreadable",
            DocumentProblem::TooManyPixels => "image_too_large",
            DocumentProblem::ActiveContent => "document_active_content",
            DocumentProblem::BadFileName => "invalid_file_name",
        }
    }

    /// For a person.
    pub fn message(self) -> &'static str {
        match self {
            DocumentProblem::Empty => "the file is empty",
            DocumentProblem::TooLarge => "the file is larger than 5 MiB",
            DocumentProblem::UnsupportedType => "only JPEG, PNG and PDF files are accepted (decided by their content)",
            DocumentProblem::TypeMismatch => "the declared content type does not match the file's content",
            DocumentProblem::Unreadable => "the image header cannot be read",
            DocumentProblem::TooManyPixels => "the image is larger than 40 megapixels or 16,384 pixels on a side",
            DocumentProblem::ActiveContent => "PDFs with scripts, launch actions or embedded files are not accepted",
            DocumentProblem::BadFileName => {
                "the file name must be 1–255 characters without path separators, '..' or control characters"
            }
        }
    }
}

/// The content type, by the first bytes.
pub fn sniff(bytes: &[u8]) -> Option<ContentType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ContentType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ContentType::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(ContentType::Pdf)
    } else {
        None
    }
}

/// Width and height from a PNG's IHDR chunk, which must come first.
fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}

/// Width and height from a JPEG's first start-of-frame marker, walking the marker segments.
fn jpeg_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        at += 2;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            // End of image or start of scan before any frame header: not a readable image.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
        if length < 2 {
            return None;
        }
        let is_frame = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_frame {
            let height = u16::from_be_bytes([*bytes.get(at + 3)?, *bytes.get(at + 4)?]);
            let width = u16::from_be_bytes([*bytes.get(at + 5)?, *bytes.get(at + 6)?]);
            return Some((u32::from(width), u32::from(height)));
        }
        at += length;
    }
}

/// Whether a PDF carries active content, by its name tokens (uncompressed object dictionaries).
fn pdf_has_active_content(bytes: &[u8]) -> bool {
    const TOKENS: [&[u8]; 5] = [b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/OpenAction"];
    TOKENS.iter().any(|token| {
        bytes.windows(token.len()).enumerate().any(|(i, w)| {
            // A whole name: the next byte must not continue it (so /JSON is not /JS).
            w == *token && bytes.get(i + token.len()).is_none_or(|b| !b.is_ascii_alphanumeric())
        })
    })
}

/// A file name as the applicant gave it, if it is acceptable as metadata.
pub fn check_file_name(name: &str) -> Result<&str, DocumentProblem> {
    let bad = name.is_empty()
        || name.chars().count() > FILE_NAME_LEN_MAX
        || name.contains(['/', '\\', ':'])
        || name.chars().any(char::is_control)
        || name == "."
        || name.contains("..")
        || name.trim() != name;
    if bad { Err(DocumentProblem::BadFileName) } else { Ok(name) }
}

/// Checks an upload: size, type by content (and against the declared type, when there is one),
/// image dimensions before any decoding, PDF active content, and the file name.
pub fn check_document(file_name: &str, declared: Option<&str>, bytes: &[u8]) -> Result<ContentType, DocumentProblem> {
    check_file_name(file_name)?;
    if bytes.is_empty() {
        return Err(DocumentProblem::Empty);
    }
    if bytes.len() > DOCUMENT_BYTES_MAX {
        return Err(DocumentProblem::TooLarge);
    }
    let found = sniff(bytes).ok_or(DocumentProblem::UnsupportedType)?;
    if let Some(declared) = declared.filter(|d| !d.is_empty() && *d != "application/octet-stream")
        && ContentType::from_mime(declared) != Some(found)
    {
        return Err(DocumentProblem::TypeMismatch);
    }
    let dimensions = match found {
        ContentType::Jpeg => Some(jpeg_dimensions(bytes).ok_or(DocumentProblem::Unreadable)?),
        ContentType::Png => Some(png_dimensions(bytes).ok_or(DocumentProblem::Unreadable)?),
        ContentType::Pdf => {
            if pdf_has_active_content(bytes) {
                return Err(DocumentProblem::ActiveContent);
            }
            None
        }
    };
    if let Some((width, height)) = dimensions {
        if width == 0 || height == 0 {
            return Err(DocumentProblem::Unreadable);
        }
        if width > IMAGE_SIDE_MAX || height > IMAGE_SIDE_MAX || u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX
        {
            return Err(DocumentProblem::TooManyPixels);
        }
    }
    Ok(found)
}

/// Test fixtures: the smallest well-formed files of each type, with chosen dimensions.
pub mod fixtures {
    /// A PNG header (signature and IHDR) of the given size, followed by an empty IDAT and IEND.
    pub fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(b"IHDR");
        out.extend_from_slice(&width.to_be_bytes());
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&[8, 2, 0, 0, 0]);
        out.extend_from_slice(&[0, 0, 0, 0]); // CRC, not checked
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(b"IEND");
        out.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        out
    }

    /// A JPEG with an APP0 segment and a baseline frame header of the given size.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        out.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        out.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&width.to_be_bytes());
        out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    /// A minimal PDF.
    pub fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_decided_by_content() {
        assert_eq!(check_document("a.jpg", Some("image/jpeg"), &fixtures::jpeg(800, 600)), Ok(ContentType::Jpeg));
        assert_eq!(check_document("a.png", None, &fixtures::png(800, 600)), Ok(ContentType::Png));
        assert_eq!(check_document("营业执照.pdf", Some("application/pdf"), &fixtures::pdf()), Ok(ContentType::Pdf));
        // A PNG named .jpg is a PNG; declared as JPEG it is refused.
        assert_eq!(check_document("a.jpg", None, &fixtures::png(10, 10)), Ok(ContentType::Png));
        assert_eq!(
            check_document("a.jpg", Some("image/jpeg"), &fixtures::png(10, 10)),
            Err(DocumentProblem::TypeMismatch)
        );
        assert_eq!(check_document("a.exe", None, b"MZ\x90\0"), Err(DocumentProblem::UnsupportedType));
        assert_eq!(check_document("a.gif", None, b"GIF89a....."), Err(DocumentProblem::UnsupportedType));
        assert_eq!(check_document("a.png", None, b""), Err(DocumentProblem::Empty));
        assert_eq!(check_document("a.pdf", None, &vec![b'%'; DOCUMENT_BYTES_MAX + 1]), Err(DocumentProblem::TooLarge));
    }

    #[test]
    fn decompression_bombs_are_refused_from_the_header() {
        // 100,000 × 100,000 pixels in a file of 45 bytes.
        assert_eq!(
            check_document("bomb.png", None, &fixtures::png(100_000, 100_000)),
            Err(DocumentProblem::TooManyPixels)
        );
        assert_eq!(
            check_document("bomb.jpg", None, &fixtures::jpeg(65_000, 65_000)),
            Err(DocumentProblem::TooManyPixels)
        );
        assert_eq!(check_document("wide.png", None, &fixtures::png(20_000, 10)), Err(DocumentProblem::TooManyPixels));
        assert_eq!(check_document("ok.png", None, &fixtures::png(6_000, 6_000)), Ok(ContentType::Png));
        assert_eq!(check_document("zero.png", None, &fixtures::png(0, 10)), Err(DocumentProblem::Unreadable));
        // Truncated headers and a JPEG whose scan starts before any frame header.
        assert_eq!(check_document("t.png", None, &fixtures::png(10, 10)[..20]), Err(DocumentProblem::Unreadable));
        assert_eq!(check_document("t.jpg", None, &[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), Err(DocumentProblem::Unreadable));
        assert_eq!(check_document("t.jpg", None, &[0xFF, 0xD8, 0xFF]), Err(DocumentProblem::Unreadable));
    }

    #[test]
    fn active_pdfs_are_refused() {
        let script = b"%PDF-1.4\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\n%%EOF";
        assert_eq!(check_document("x.pdf", None, script), Err(DocumentProblem::ActiveContent));
        let json = b"%PDF-1.4\n1 0 obj << /Title (/JSON) >> endobj\n%%EOF";
        assert_eq!(check_document("x.pdf", None, json), Ok(ContentType::Pdf));
    }

    #[test]
    fn file_names_cannot_climb_directories() {
        for bad in
            ["", "../../etc/passwd", "..", ".", "a/b.png", "a\\b.png", "c:evil.png", "a\0.png", "a\n.png", " a.png"]
        {
            assert_eq!(check_file_name(bad), Err(DocumentProblem::BadFileName), "{bad:?}");
        }
        assert!(check_file_name(&"a".repeat(256)).is_err());
        assert_eq!(check_file_name("身份证 正面.jpg"), Ok("身份证 正面.jpg"));
    }

    #[test]
    fn required_documents_by_business_type() {
        assert_eq!(DocumentKind::required_for(BusinessType::Individual).len(), 3);
        assert!(DocumentKind::required_for(BusinessType::IndividualBusiness).contains(&DocumentKind::BusinessLicence));
        assert_eq!(DocumentKind::required_for(BusinessType::Enterprise), DocumentKind::ALL.to_vec());
        for kind in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
        }
    }
}
