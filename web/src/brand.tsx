// The ferrocast mark (the favicon's drawing, public/favicon.svg), inline so it needs no request.
import { useId } from "react";

export function Mark({ className = "mark" }: { className?: string }) {
  const id = useId();
  return (
    <svg className={className} viewBox="0 0 64 64" aria-hidden="true" focusable="false">
      <defs>
        <linearGradient id={id} x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#6366f1" />
          <stop offset="1" stopColor="#c026d3" />
        </linearGradient>
      </defs>
      <rect width="64" height="64" rx="15" fill={`url(#${id})`} />
      <path d="M22 19.5v25a2 2 0 0 0 3 1.7l20.5-12.5a2 2 0 0 0 0-3.4L25 17.8a2 2 0 0 0-3 1.7z" fill="#fff" />
      <path d="M47.5 14.5a24 24 0 0 1 0 35M16.5 14.5a24 24 0 0 0 0 35" fill="none" stroke="#fff" strokeWidth="4" strokeLinecap="round" opacity=".55" />
    </svg>
  );
}
