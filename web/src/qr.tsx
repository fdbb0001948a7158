// A QR code drawn as SVG: dark modules on white with the standard four-module quiet zone, in
// both themes (scanners expect dark on light). Encoding by `uqr` (no dependencies of its own).
import { useMemo } from "react";
import { encode } from "uqr";

export function QrCode({ text, label, className = "qr", testId }: { text: string; label: string; className?: string; testId?: string }) {
  const { size, path } = useMemo(() => {
    // Level M survives a smudge or a glare while keeping an otpauth URI at a scannable size.
    const qr = encode(text, { ecc: "M", border: 4 });
    let d = "";
    qr.data.forEach((row, y) =>
      row.forEach((dark, x) => {
        if (dark) d += `M${x} ${y}h1v1h-1z`;
      }),
    );
    return { size: qr.size, path: d };
  }, [text]);
  return (
    <svg className={className} viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} data-testid={testId} shapeRendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
