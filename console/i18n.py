"""The console's labels in the hall's language (Vietnamese first, English second).

Only words the operator reads live here; the daemon's own sentences (a vote's explanation, a
refusal's reason) arrive already in the hall's language and are shown as they come.
Never formats numbers or times for the wire: labels only.
"""

from __future__ import annotations

from enum import StrEnum


class Lang(StrEnum):
    VI = "vi"
    EN = "en"


# key -> (Vietnamese, English). Vietnamese is the hall's words, not a translation of the English.
LABELS: dict[str, tuple[str, str]] = {
    "app.title": ("Bảng điều khiển phòng họp", "Hall console"),
    "tab.chair": ("Chủ tọa", "Chair"),
    "tab.tech": ("Kỹ thuật", "Technician"),
    "status.connected": ("Đã kết nối", "Connected"),
    "status.connecting": ("Đang kết nối…", "Connecting…"),
    "status.disconnected": (
        "MẤT KẾT NỐI với máy chủ — đang thử kết nối lại…",
        "DISCONNECTED from the controller — reconnecting…",
    ),
    "sitting.none": ("Chưa khai mạc kỳ họp", "No sitting open"),
    # Both languages in each: nobody may take a practice hall for a real sitting.
    "sitting.training": (
        "ĐÀO TẠO / TRAINING — hội trường mô phỏng, không phải kỳ họp thật",
        "TRAINING / ĐÀO TẠO — a simulated hall, not a real sitting",
    ),
    "sitting.item": ("Nội dung", "Agenda item"),
    "sitting.item.none": ("(chưa chọn nội dung)", "(no item chosen)"),
    "attendance": ("Điểm danh", "Attendance"),
    "attendance.present": ("Có mặt", "Present"),
    "attendance.members": ("đại biểu", "delegates"),
    "quorum.ok": ("Đủ số lượng đại biểu", "Quorum reached"),
    "quorum.missing": ("Chưa đủ số lượng đại biểu", "No quorum"),
    "quorum.required": ("cần", "needs"),
    "vote": ("Biểu quyết", "Vote"),
    "vote.none": ("Chưa có biểu quyết", "No vote prepared"),
    "vote.state.prepared": ("Đã chuẩn bị", "Prepared"),
    "vote.state.open": ("Đang biểu quyết", "Open"),
    "vote.state.hold": ("Tạm dừng", "On hold"),
    "vote.state.closed": ("Đã kết thúc", "Closed"),
    "vote.state.published": ("Đã công bố", "Published"),
    "vote.state.cancelled": ("Đã hủy", "Cancelled"),
    "vote.state.annulled": ("Đã hủy kết quả", "Annulled"),
    "vote.mode.open": ("Công khai", "Open"),
    "vote.mode.secret": ("Bỏ phiếu kín", "Secret ballot"),
    "vote.mode.roll-call": ("Điểm danh từng người", "Roll call"),
    "vote.voted": ("Đã biểu quyết", "Voted"),
    "vote.did_not_vote": ("Không tham gia", "Did not vote"),
    "vote.electorate": ("Có quyền biểu quyết", "Entitled"),
    "vote.hidden": ("Kết quả kín đến khi kết thúc", "Hidden until close (secret ballot)"),
    "vote.countdown": ("Còn lại", "Time left"),
    "vote.result": ("Kết quả", "Result"),
    "vote.adopted": ("THÔNG QUA", "ADOPTED"),
    "vote.rejected": ("KHÔNG THÔNG QUA", "NOT ADOPTED"),
    "answer.yes": ("Tán thành", "Yes"),
    "answer.no": ("Không tán thành", "No"),
    "answer.abstain": ("Không biểu quyết", "Abstain"),
    "floor": ("Phát biểu", "Floor"),
    "floor.live": ("Đang phát biểu", "Speaking"),
    "floor.nobody": ("(không ai)", "(nobody)"),
    "floor.list.speak": ("Đăng ký phát biểu", "To speak"),
    "floor.list.question": ("Chất vấn", "To question"),
    "floor.list.reply": ("Tranh luận", "To reply"),
    "floor.priority": ("Ưu tiên chủ tọa", "Chair priority"),
    "floor.priority.on": ("ĐANG BẬT", "ON"),
    "floor.left": ("còn", "left"),
    "floor.over": ("quá giờ", "overtime"),
    "seatmap": ("Sơ đồ chỗ ngồi", "Seating chart"),
    "seatmap.by.presence": ("theo có mặt", "by presence"),
    "seatmap.by.vote": ("theo biểu quyết", "by vote"),
    "seatmap.by.mic": ("theo micro", "by microphone"),
    "legend.present": ("có mặt", "present"),
    "legend.absent": ("vắng", "absent"),
    "legend.voted": ("đã bấm", "voted"),
    "legend.mic_on": ("micro bật", "mic on"),
    "legend.waiting": ("chờ phát biểu", "waiting"),
    "tech.lines": ("Đường truyền", "Lines"),
    "tech.units": ("Thiết bị", "Units"),
    "tech.faults": ("Sự cố", "Faults"),
    "tech.faults.new": ("sự cố chưa xem", "not yet seen"),
    "tech.faults.none": ("không có sự cố", "none"),
    "tech.online": ("trực tuyến", "online"),
    "tech.offline": ("MẤT", "OFFLINE"),
    "tech.down": ("MẤT ĐƯỜNG TRUYỀN", "DOWN"),
    "tech.trouble": ("có lỗi", "trouble"),
    "tech.forced": ("Micro do kỹ thuật viên bật", "Microphones forced on"),
    "tech.forced.none": ("không có", "none"),
    "tech.since": ("từ", "since"),
    "unit.keypad": ("bàn phím", "keypad"),
    "unit.mic": ("micro", "mic"),
    "unit.ip": ("thiết bị IP", "IP unit"),
    "contract.older": ("cũ hơn", "older"),
    "contract.incompatible": ("không tương thích", "incompatible"),
    "fault.line-down": ("mất đường truyền", "line down"),
    "fault.offline": ("mất kết nối", "offline"),
    "fault.errors": ("lỗi trả lời", "reply errors"),
    "fault.restart": ("khởi động lại", "restarted"),
    "fault.lost-events": ("mất lần bấm", "lost presses"),
    "fault.refused": ("lần bấm bị từ chối", "presses refused"),
    "fault.contract": ("phiên bản giao thức khác", "another contract version"),
    "fault.backup": ("sao lưu không thành công", "backup failed"),
    "fault.clock": ("đồng hồ hệ thống chưa được đồng bộ", "system clock not synchronised"),
    "fault.adapter": (
        "bộ chuyển đổi USB–RS-485 giữ câu trả lời (latency timer trên 1 ms)",
        "USB–RS-485 adapter holds replies (latency timer above 1 ms)",
    ),
    "fault.state.open": ("đang xảy ra", "open"),
    "fault.state.over": ("đã hết", "over"),
    "fault.state.seen": ("đã xem", "seen"),
    "fault.detail.lost": ("mất liên lạc", "lost"),
    "fault.detail.never answered": ("chưa từng trả lời", "never answered"),
    "fault.detail.older": (
        "phiên bản cũ hơn: phục vụ không có tính năng mới",
        "older version: served without what it lacks",
    ),
    "fault.detail.incompatible": (
        "phiên bản không tương thích: không được phục vụ",
        "incompatible version: not served",
    ),
    "access.daemon": ("Máy chủ", "Controller"),
    "access.wall": ("Màn hình hội trường", "Display wall"),
    "access.unknown": ("(chưa được cung cấp)", "(not given)"),
    "access.token.console": ("Mã của bàn điều khiển này", "This console's token"),
    "access.token.chair": ("Mã chủ tọa", "Chair token"),
    "access.token.secretary": ("Mã thư ký", "Secretary token"),
    "access.token.technician": ("Mã kỹ thuật viên", "Technician token"),
    "access.token.observer": ("Mã người xem", "Observer token"),
    "col.line": ("Đường", "Line"),
    "col.address": ("Địa chỉ", "Address"),
    "col.seat": ("Ghế", "Seat"),
    "col.kind": ("Loại", "Kind"),
    "col.state": ("Trạng thái", "State"),
    "col.response": ("ms", "ms"),
    "col.errors": ("Lỗi", "Errors"),
    "col.reboots": ("K.động lại", "Reboots"),
    "col.online": ("Trực tuyến", "Online"),
    "col.cycle": ("Chu kỳ ms", "Cycle ms"),
    "col.faults": ("Sự cố", "Faults"),
    "col.contract": ("Phiên bản", "Contract"),
    "col.problem": ("Vấn đề", "Problem"),
    "col.when": ("Thời gian", "When"),
    "col.where": ("Vị trí", "Where"),
    "col.fault": ("Sự cố", "Fault"),
    "col.detail": ("Chi tiết", "Detail"),
    "confirm.yes": ("Đồng ý", "Yes"),
    "confirm.no": ("Quay lại", "Go back"),
    "confirm.undo": ("Không thể hoàn tác:", "Cannot be undone:"),
    "confirm.open": ("Bắt đầu biểu quyết «{title}»?", "Open the vote “{title}”?"),
    "confirm.open.undo": (
        "Bàn phím của đại biểu mở khóa và mọi phiếu bấm được ghi lại; biểu quyết đã mở không thể"
        " trở về trạng thái chuẩn bị, chỉ có thể kết thúc hoặc hủy.",
        "The delegates' keypads unlock and every press is recorded; an open vote cannot go back"
        " to prepared, only be closed or cancelled.",
    ),
    "confirm.close": ("Kết thúc biểu quyết «{title}»?", "Close the vote “{title}”?"),
    "confirm.close.undo": (
        "Không ai có thể bấm thêm hay đổi phiếu; kết quả được tính trên các phiếu đã bấm và ghi"
        " vào biên bản.",
        "Nobody can vote or change a vote any more; the result is counted from the votes cast"
        " and goes into the minutes.",
    ),
    "confirm.cancel": ("Hủy biểu quyết «{title}»?", "Cancel the vote “{title}”?"),
    "confirm.cancel.undo": (
        "Biểu quyết bị hủy cùng mọi phiếu đã bấm; không thể mở lại, chỉ có thể tạo biểu quyết mới.",
        "The vote and every vote cast in it are cancelled; it cannot be opened again, only made"
        " anew.",
    ),
    "confirm.publish": ("Công bố kết quả «{title}»?", "Publish the result of “{title}”?"),
    "confirm.publish.undo": (
        "Kết quả hiện lên màn hình hội trường và vào biên bản; không thể rút lại.",
        "The result goes up on the hall's wall and into the minutes; it cannot be withdrawn.",
    ),
    "confirm.revoke": ("Tắt micro ghế {seat}?", "Take the floor from seat {seat}?"),
    "confirm.revoke.undo": (
        "Lượt phát biểu của ghế {seat} kết thúc và được ghi lại; muốn nói tiếp, đại biểu phải"
        " được cho phát biểu lại.",
        "Seat {seat}'s turn ends and is recorded; to speak again the delegate must be given the"
        " floor anew.",
    ),
    "confirm.quit": ("Thoát bảng điều khiển?", "Quit the console?"),
    "confirm.quit.note": (
        "Máy chủ phòng họp vẫn chạy; mở lại bằng lệnh chamber console. Trong bản trình diễn"
        " (make demo), thoát bảng điều khiển là dừng cả phòng họp mô phỏng.",
        "The hall's controller keeps running; start the console again with chamber console. In"
        " the demo (make demo), quitting the console stops the whole simulated hall.",
    ),
    "new.title": ("Nội dung biểu quyết", "What is being voted on"),
    "new.secret": ("Bỏ phiếu kín", "Secret ballot"),
    "new.duration": ("Thời gian (giây, để trống: mặc định)", "Duration (s, empty: default)"),
    "new.create": ("Tạo", "Create"),
    "new.kind": ("Loại biểu quyết", "Kind of vote"),
    "new.rule": ("Quy tắc biểu quyết", "Majority rule"),
    "new.answers": ("Phương án trả lời", "Answers"),
    "new.choices": ("Các phương án (cách nhau bằng dấu phẩy)", "Options (separated by commas)"),
    "new.choices.hint": ("ví dụ: Nguyễn Văn A, Trần Thị B", "e.g. Nguyen Van A, Tran Thi B"),
    "new.mode": ("Hình thức", "Mode"),
    "new.item": ("Nội dung trong chương trình", "Agenda item"),
    "new.practice": (
        "Biểu quyết thử (không tính vào kết quả)",
        "Practice vote (not in the record)",
    ),
    "new.rule_not_kind": (
        "Loại “{kind}” theo quy định biểu quyết theo quy tắc {kind_rule}, đã chọn {rule}.",
        "A vote of kind “{kind}” takes the rule {kind_rule}; {rule} is chosen.",
    ),
    "new.mode_not_kind": (
        "Loại “{kind}” theo quy định dùng hình thức {kind_mode}, đã chọn {mode}.",
        "A vote of kind “{kind}” is held as {kind_mode}; {mode} is chosen.",
    ),
    "answers.yes-no-abstain": (
        "Tán thành / Không tán thành / Không biểu quyết",
        "Yes / No / Abstain",
    ),
    "answers.yes-no": ("Tán thành / Không tán thành", "Yes / No"),
    "answers.choices": ("Các phương án (ví dụ: ứng cử viên)", "Options (e.g. candidates)"),
    "mode.open": ("Công khai", "Open vote"),
    "mode.secret": ("Bỏ phiếu kín", "Secret ballot"),
    "mode.roll-call": ("Biểu quyết lần lượt", "Roll call"),
    "annul.question": ("Hủy kết quả biểu quyết “{title}”?", "Annul the vote “{title}”?"),
    "annul.reason": ("Lý do hủy kết quả (ghi vào biên bản)", "Reason (for the minutes)"),
    "annul.undo": (
        "Không thể hoàn tác: kết quả bị hủy, không có giá trị; có thể biểu quyết lại.",
        "This cannot be undone: the result is void; the vote may be run again.",
    ),
    "annul.do": ("Hủy kết quả", "Annul"),
    "manual.question": (
        "Nhập kết quả biểu quyết “{title}” do chủ tọa kiểm đếm",
        "Enter the result of “{title}” counted by the chair",
    ),
    "manual.show-of-hands": ("Giơ tay", "Show of hands"),
    "manual.paper": ("Phiếu giấy", "Paper ballots"),
    "manual.present": (
        "Số đại biểu có mặt (để trống: theo hệ thống)",
        "Members present (empty: as the system has it)",
    ),
    "manual.enter": ("Nhập kết quả", "Enter the result"),
    "confirm.rerun": ("Biểu quyết lại “{title}”?", "Run the vote “{title}” again?"),
    "confirm.rerun.note": (
        "Một biểu quyết mới được chuẩn bị với cùng nội dung, loại và quy tắc.",
        "A new vote is prepared with the same title, kind and rule.",
    ),
    "cmd.annul": ("Hủy kết quả “{title}”", "Annul “{title}”"),
    "cmd.rerun": ("Biểu quyết lại “{title}”", "Run “{title}” again"),
    "cmd.manual": ("Nhập kết quả “{title}”", "Enter the result of “{title}”"),
    "key.annul": ("Hủy kết quả", "Annul"),
    "key.rerun": ("Biểu quyết lại", "Rerun"),
    "key.manual": ("Nhập kết quả", "By hand"),
    "vote.warning": ("Lưu ý", "Note"),
    "seat.prompt": ("Số ghế", "Seat number"),
    "seat.prompt.grant": ("Cho phát biểu — số ghế", "Give the floor — seat number"),
    "seat.prompt.revoke": ("Tắt micro — số ghế", "Take the floor — seat number"),
    "seat.prompt.mic_on": ("Bật micro (kỹ thuật) — số ghế", "Force mic ON — seat number"),
    "seat.prompt.mic_off": ("Tắt micro (kỹ thuật) — số ghế", "Force mic OFF — seat number"),
    "seat.invalid": ("Số ghế không hợp lệ", "Not a seat number"),
    "error": ("Lỗi", "Error"),
    "key.new": ("Tạo", "New vote"),
    "key.open": ("Mở", "Open"),
    "key.hold": ("Dừng/Tiếp", "Hold/Resume"),
    "key.close": ("Đóng", "Close"),
    "key.cancel": ("Hủy", "Cancel"),
    "key.publish": ("Công bố", "Publish"),
    "key.next": ("Kế tiếp", "Next"),
    "key.grant": ("Cho nói", "Grant"),
    "key.revoke": ("Thu hồi", "Revoke"),
    "key.priority": ("Ưu tiên", "Priority"),
    "key.colour": ("Màu", "Colour by"),
    "key.chair": ("Chủ tọa", "Chair"),
    "key.tech": ("Kỹ thuật", "Technician"),
    "key.mic_on": ("Bật mic", "Mic on"),
    "key.mic_off": ("Tắt mic", "Mic off"),
    "key.ack_fault": ("Đã xem", "Seen"),
    "key.identify": ("Nhận diện", "Identify"),
    "key.quit": ("Thoát", "Quit"),
    "status.stale": (
        "DỮ LIỆU CŨ — không nhận được tin từ máy chủ",
        "STALE — nothing heard from the controller",
    ),
    "status.updated": ("Cập nhật", "Updated"),
    "status.ago": ("{age} trước", "{age} ago"),
    "status.never": ("chưa nhận tin", "nothing yet"),
    "unit.s": ("giây", "s"),
    "unit.min": ("phút", "min"),
    "floor.muted": ("tắt tiếng (ưu tiên chủ tọa)", "muted (chair priority)"),
    "cmd.pending": ("Đang gửi", "Sending"),
    "cmd.done": ("Đã thực hiện", "Done"),
    "cmd.refused": ("Bị từ chối", "Refused"),
    "cmd.failed": ("Không gửi được", "Could not send"),
    "cmd.generic": ("Lệnh", "Command"),
    "cmd.new": ("Tạo biểu quyết «{title}»", "Create the vote “{title}”"),
    "cmd.open": ("Bắt đầu biểu quyết «{title}»", "Open the vote “{title}”"),
    "cmd.hold": ("Tạm dừng biểu quyết «{title}»", "Hold the vote “{title}”"),
    "cmd.resume": ("Tiếp tục biểu quyết «{title}»", "Resume the vote “{title}”"),
    "cmd.close": ("Kết thúc biểu quyết «{title}»", "Close the vote “{title}”"),
    "cmd.cancel": ("Hủy biểu quyết «{title}»", "Cancel the vote “{title}”"),
    "cmd.publish": ("Công bố kết quả «{title}»", "Publish the result of “{title}”"),
    "cmd.next": ("Mời người kế tiếp phát biểu", "Give the floor to the next speaker"),
    "cmd.grant": ("Cho ghế {seat} phát biểu", "Give the floor to seat {seat}"),
    "cmd.revoke": ("Tắt micro ghế {seat}", "Take the floor from seat {seat}"),
    "cmd.priority.on": ("Bật ưu tiên chủ tọa", "Chair priority on"),
    "cmd.priority.off": ("Tắt ưu tiên chủ tọa", "Chair priority off"),
    "cmd.mic_on": ("Bật micro ghế {seat} (kỹ thuật)", "Force seat {seat}'s microphone on"),
    "cmd.ack_fault": ("Đánh dấu đã xem sự cố {fault}", "Mark fault {fault} as seen"),
    "cmd.identify": (
        "Nhấp nháy thiết bị {unit}, ghế {seat}, trong {seconds} giây",
        "Blink unit {unit}, seat {seat}, for {seconds} s",
    ),
    "fault.none_selected": ("Chọn một sự cố trong danh sách", "Choose a fault in the list"),
    "unit.none_selected": ("Chọn một thiết bị trong bảng", "Choose a unit in the table"),
    "cmd.mic_off": ("Tắt micro ghế {seat} (kỹ thuật)", "Force seat {seat}'s microphone off"),
}


def label(key: str, lang: Lang, **fields: object) -> str:
    """The label for `key` in `lang`; an unknown key shows itself (a bug, but never a crash)."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang is Lang.VI else pair[1]
    return text.format(**fields) if fields else text


def lang_of(code: object) -> Lang:
    """The hall's language code as the console's language; anything unknown falls back to vi."""
    try:
        return Lang(str(code))
    except ValueError:
        return Lang.VI
