"""Words the meeting core puts in front of people, in the hall's language (Vietnamese or English).

The core builds one sentence per vote outcome that a chair can read aloud and a secretary can
paste into the minutes, names the answers of the default answer sets, and words every refusal
(`REFUSAL_TEXTS`, one sentence per code of `refusals.REFUSALS`, rendered by `refusal_text`).
Every string here is a template filled with numbers the caller already computed: this module
never counts, decides or rounds anything, so a translation can never change a result.

Vietnamese follows the People's Council usage: "tán thành", "không tán thành",
"không biểu quyết", "thông qua", "không thông qua", "tổng số đại biểu".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from chamber.controller.core.model import AnswerSet, Base, Comparison, Language
from chamber.controller.core.refusals import REFUSALS, UNKNOWN, ParamType

# Key labels as printed on the keypads of the default answer sets (key 1 first).
ANSWER_LABELS: dict[Language, dict[AnswerSet, tuple[str, ...]]] = {
    Language.VI: {
        AnswerSet.YES_NO_ABSTAIN: ("Tán thành", "Không tán thành", "Không biểu quyết"),
        AnswerSet.YES_NO: ("Tán thành", "Không tán thành"),
    },
    Language.EN: {
        AnswerSet.YES_NO_ABSTAIN: ("Yes", "No", "Abstain"),
        AnswerSet.YES_NO: ("Yes", "No"),
    },
}

# Kept apart from "abstain" everywhere: a seat of the electorate that pressed nothing.
DID_NOT_VOTE: dict[Language, str] = {
    Language.VI: "Không tham gia biểu quyết",
    Language.EN: "Did not vote",
}


def answer_labels(language: Language, answers: AnswerSet) -> tuple[str, ...]:
    """Labels of a fixed answer set; CHOICES votes carry their own labels."""
    return ANSWER_LABELS[language][answers]


_NAMED_FRACTIONS: dict[Language, dict[Fraction, str]] = {
    Language.VI: {
        Fraction(1, 2): "một nửa",
        Fraction(2, 3): "hai phần ba",
        Fraction(3, 4): "ba phần tư",
        Fraction(1, 3): "một phần ba",
    },
    Language.EN: {
        Fraction(1, 2): "half",
        Fraction(2, 3): "two thirds",
        Fraction(3, 4): "three quarters",
        Fraction(1, 3): "one third",
    },
}


def fraction_words(language: Language, fraction: Fraction) -> str:
    """A rule's fraction in words ("hai phần ba", "two thirds"), else as a number."""
    named = _NAMED_FRACTIONS[language].get(fraction)
    if named is not None:
        return named
    if fraction.denominator == 1:
        return str(fraction.numerator)
    return f"{fraction.numerator}/{fraction.denominator}"


@dataclass(frozen=True)
class OutcomeFacts:
    """The numbers one explanation sentence states; all of them computed by `rules`."""

    comparison: Comparison
    fraction: Fraction
    constant: int
    base: Base
    base_count: int
    required: int
    # Votes for "yes", or for the leading option of a CHOICES vote.
    count: int
    adopted: bool
    # The threshold was met but a tie failed the vote (a tie never passes).
    tie: bool
    weighted: bool = False
    # The leading option's label in a CHOICES vote; None for yes/no votes.
    option: str | None = None


def _base_phrase(language: Language, base: Base, n: int) -> str:
    """The base as the object of "more than half of ..."."""
    if language is Language.VI:
        return {
            Base.ALL_MEMBERS: f"tổng số {n} đại biểu",
            Base.ENTITLED: f"tổng số {n} đại biểu có quyền biểu quyết",
            Base.PRESENT: f"tổng số {n} đại biểu có mặt",
            Base.CAST: f"tổng số {n} phiếu đã biểu quyết",
            Base.CAST_WITHOUT_ABSTENTIONS: f"tổng số {n} phiếu tán thành và không tán thành",
        }[base]
    return {
        Base.ALL_MEMBERS: f"all {n} members",
        Base.ENTITLED: f"the {n} members entitled to vote",
        Base.PRESENT: f"the {n} members present",
        Base.CAST: f"the {n} votes cast",
        Base.CAST_WITHOUT_ABSTENTIONS: f"the {n} votes cast for or against",
    }[base]


def _count_phrase(language: Language, facts: OutcomeFacts) -> str:
    """The first half: who voted how, e.g. "26 of 50 members voted yes"."""
    n, c = facts.base_count, facts.count
    member_base = facts.base in (Base.ALL_MEMBERS, Base.ENTITLED, Base.PRESENT)
    if language is Language.VI:
        who = {
            Base.ALL_MEMBERS: "đại biểu",
            Base.ENTITLED: "đại biểu có quyền biểu quyết",
            Base.PRESENT: "đại biểu có mặt",
            Base.CAST: "phiếu đã biểu quyết",
            Base.CAST_WITHOUT_ABSTENTIONS: "phiếu tán thành và không tán thành",
        }[facts.base]
        if facts.option is not None and member_base:
            return f"Phương án “{facts.option}” được {c}/{n} {who} chọn"
        if facts.option is not None:
            return f"Phương án “{facts.option}” được {c} trên {n} {who}"
        if member_base:
            return f"Có {c}/{n} {who} tán thành"
        return f"Có {c} phiếu tán thành trên {n} {who}"
    who = {
        Base.ALL_MEMBERS: "members",
        Base.ENTITLED: "members entitled to vote",
        Base.PRESENT: "members present",
        Base.CAST: "votes cast",
        Base.CAST_WITHOUT_ABSTENTIONS: "votes cast for or against",
    }[facts.base]
    if facts.option is not None:
        return f"“{facts.option}” received {c} of {n} {who}"
    if member_base:
        return f"{c} of {n} {who} voted yes"
    return f"{c} of {n} {who} were yes"


def _need_phrase(language: Language, facts: OutcomeFacts) -> str:
    """The second half: what the rule asked for, with the exact head count."""
    base = _base_phrase(language, facts.base, facts.base_count)
    frac = fraction_words(language, facts.fraction)
    if language is Language.VI:
        plus = f" cộng {facts.constant}" if facts.constant else ""
        if facts.comparison is Comparison.UNANIMITY:
            return f"cần sự nhất trí của {base} (cả {facts.required})"
        if facts.comparison is Comparison.MORE_THAN:
            head = "quá nửa" if facts.fraction == Fraction(1, 2) else f"trên {frac}"
        else:
            head = f"ít nhất {frac}"
        return f"cần {head} {base}{plus} (ít nhất {facts.required})"
    plus = f" plus {facts.constant}" if facts.constant else ""
    if facts.comparison is Comparison.UNANIMITY:
        return f"unanimity of {base} (all {facts.required}) was needed"
    head = "more than" if facts.comparison is Comparison.MORE_THAN else "at least"
    return f"{head} {frac} of {base}{plus} (at least {facts.required}) was needed"


def _verdict(language: Language, facts: OutcomeFacts) -> str:
    if language is Language.VI:
        if facts.adopted:
            return "thông qua"
        if facts.tie and facts.option is not None:
            return "không thông qua (các phương án dẫn đầu bằng phiếu nhau)"
        if facts.tie:
            return "không thông qua (số tán thành bằng số không tán thành)"
        return "không thông qua"
    if facts.adopted:
        return "adopted"
    if facts.tie and facts.option is not None:
        return "not adopted (tied for first place)"
    if facts.tie:
        return "not adopted (a tie never passes)"
    return "not adopted"


def explain_outcome(language: Language, facts: OutcomeFacts) -> str:
    """One sentence, e.g. "26 of 50 members voted yes; more than half of all 50 members
    (at least 26) was needed: adopted." """
    prefix = ""
    if facts.weighted:
        prefix = "Tính theo trọng số: " if language is Language.VI else "By weight: "
    sentence = (
        f"{_count_phrase(language, facts)}; {_need_phrase(language, facts)}: "
        f"{_verdict(language, facts)}."
    )
    if prefix:
        sentence = prefix + sentence[0].lower() + sentence[1:]
    return sentence


def explain_no_votes(language: Language) -> str:
    """A CHOICES vote nobody voted in has no leading option to speak of."""
    if language is Language.VI:
        return "Không có phiếu nào được bỏ: không thông qua."
    return "No votes were cast: not adopted."


# --- refusals ------------------------------------------------------------------------------------
#
# One sentence per refusal code of `refusals.REFUSALS`, in both languages. A placeholder names
# a declared parameter ({vote}, {seat} ...); a parameter whose type is a word (a vote's state, a
# speaker list ...) is shown as that word in the sentence's language. Rendering never fails: a
# missing parameter shows as "?", an unknown code as a generic sentence with the code.

REFUSAL_TEXTS: Mapping[Language, Mapping[str, str]] = MappingProxyType(
    {
        Language.VI: MappingProxyType(
            {
                "sitting.not_open": "Chưa khai mạc kỳ họp.",
                "sitting.already_open": "Kỳ họp {sitting} đang diễn ra; cần bế mạc trước.",
                "sitting.already_held": "Kỳ họp {sitting} đã được tổ chức.",
                "sitting.id_missing": "Kỳ họp cần có mã.",
                "sitting.none_held": "Chưa có kỳ họp nào được tổ chức.",
                "sitting.not_found": "Không có kỳ họp {sitting}.",
                "sitting.file_invalid": "Tệp kỳ họp không dùng được: {problem}.",
                "sitting.file_mismatch": (
                    "Kỳ họp {sitting} đang diễn ra với chương trình khác với chương trình trong "
                    "tệp; cần bế mạc trước, hoặc sửa tệp cho khớp."
                ),
                "agenda.item_not_found": "Không có nội dung {item} trong chương trình kỳ họp.",
                "agenda.ids_invalid": (
                    "Mã các nội dung trong chương trình phải khác nhau và không được để trống."
                ),
                "seat.not_found": "Không có ghế số {seat}.",
                "seat.no_delegate": "Ghế số {seat} không có đại biểu.",
                "seat.no_microphone": "Ghế số {seat} không có micrô.",
                "seat.occupied": "Ghế số {seat} đã có đại biểu ngồi: chỉ chuyển sang ghế trống.",
                "seat.no_keypad": "Ghế số {seat} không có bàn phím biểu quyết.",
                "seat.move_same": "Đại biểu đã ngồi ở ghế số {seat}.",
                "seat.reason_missing": "Cần ghi lý do để lưu vào biên bản.",
                "seat.reason_too_long": "Lý do dài quá {max} ký tự.",
                "attendance.registration_open": "Việc điểm danh đang diễn ra.",
                "attendance.registration_not_open": "Không có việc điểm danh nào đang diễn ra.",
                "vote.not_found": "Không có biểu quyết {vote} trong kỳ họp này.",
                "vote.exists": "Đã có biểu quyết {vote}.",
                "vote.id_missing": "Biểu quyết cần có mã.",
                "vote.title_missing": "Biểu quyết cần có tiêu đề.",
                "vote.choices_count": (
                    "Biểu quyết theo phương án cần từ {min} đến {max} phương án, "
                    "không phải {count}."
                ),
                "vote.choices_invalid": "Các phương án phải khác nhau và không được để trống.",
                "vote.choices_unexpected": "Biểu quyết “{answers}” không có phương án riêng.",
                "vote.time_negative": "Thời gian không được là số âm.",
                "vote.duration_too_long": (
                    "Thời gian biểu quyết tối đa là {max_s} giây (0: không giới hạn thời gian)."
                ),
                "vote.warning_after_end": (
                    "Thời điểm báo trước ({warning_s} giây) phải trước khi hết giờ "
                    "({duration_s} giây)."
                ),
                "vote.wrong_state": (
                    "Không thể {command} biểu quyết {vote}: biểu quyết đang ở trạng thái “{state}”."
                ),
                "vote.active": "Biểu quyết {vote} đang ở trạng thái “{state}”.",
                "vote.another_active": (
                    "Biểu quyết {vote} đang ở trạng thái “{state}”; cần kết thúc biểu quyết "
                    "đó trước."
                ),
                "vote.not_amendable": (
                    "Không thể sửa biểu quyết {vote}: biểu quyết đang ở trạng thái “{state}”."
                ),
                "vote.not_changeable": "Lúc này không thể sửa biểu quyết {vote}.",
                "vote.no_quorum": (
                    "Chưa đủ số lượng đại biểu: có mặt {present} đại biểu, cần {required}."
                ),
                "vote.none_prepared": "Không còn biểu quyết nào đã chuẩn bị để mở.",
                "vote.rerun_not_annulled": (
                    "Biểu quyết {vote} đang ở trạng thái “{state}”: chỉ biểu quyết đã bị hủy "
                    "kết quả mới được biểu quyết lại."
                ),
                "vote.rerun_done": "Biểu quyết {vote} đã được biểu quyết lại (biểu quyết {rerun}).",
                "vote.annul_not_closed": ("Biểu quyết {vote} phải kết thúc trước khi hủy kết quả."),
                "vote.annul_reason_missing": "Hủy kết quả biểu quyết cần nêu lý do.",
                "vote.annul_reason_too_long": "Lý do dài quá {max} ký tự.",
                "vote.manual_weighted": (
                    "Biểu quyết {vote} tính theo trọng số: kết quả kiểm đếm thủ công "
                    "không có trọng số."
                ),
                "vote.manual_answers": (
                    "Biểu quyết {vote} có {keys} phương án trả lời, không phải {count}."
                ),
                "vote.manual_negative": "Số phiếu không được là số âm.",
                "vote.manual_present_range": (
                    "Có mặt {present} đại biểu, nhưng phòng họp chỉ có {entitled} đại biểu "
                    "có quyền biểu quyết."
                ),
                "vote.manual_too_many": (
                    "Đã đếm {voted} phiếu, nhưng chỉ có {present} đại biểu có mặt."
                ),
                "vote.not_closed_secret": (
                    "Biểu quyết {vote} không phải là một cuộc bỏ phiếu kín đã kết thúc."
                ),
                "vote.totals_keys": (
                    "Biểu quyết {vote}: số liệu tổng không khớp với các phương án trả lời."
                ),
                "vote.totals_participants": (
                    "Biểu quyết {vote}: số liệu tổng không khớp với số người tham gia."
                ),
                "vote.weighted_totals": (
                    "Biểu quyết {vote}: số liệu tổng theo trọng số không khớp."
                ),
                "rule.not_found": "Không có quy tắc biểu quyết “{rule}”.",
                "rule.threshold_range": (
                    "Tỷ lệ {fraction} của ngưỡng phải nằm trong khoảng từ 0 đến 1."
                ),
                "floor.already_speaking": "Đại biểu ở ghế số {seat} đang phát biểu.",
                "floor.already_waiting": ("Ghế số {seat} đã có tên trong danh sách {list}."),
                "floor.lists_full": "Các danh sách đăng ký phát biểu đã đầy ({max}).",
                "floor.nobody_waiting": "Không có ai đang chờ phát biểu.",
                "floor.at_cap": (
                    "Đã mở đủ {max} micrô đại biểu: chuyển lượt (kế tiếp) hoặc tắt bớt micrô."
                ),
                "floor.nobody_waiting_on_list": "Không có ai đang chờ trong danh sách {list}.",
                "floor.not_speaking_or_waiting": (
                    "Ghế số {seat} không phát biểu và cũng không chờ phát biểu."
                ),
                "floor.not_speaking": "Ghế số {seat} hiện không phát biểu.",
                "floor.untimed": (
                    "Ghế số {seat} phát biểu không giới hạn thời gian: không cần gia hạn."
                ),
                "floor.cap_range": "Số micrô mở cùng lúc phải từ {min} đến {max}.",
                "floor.speaking_time_range": "Thời gian phát biểu phải từ 0 đến {max_s} giây.",
                "floor.extension_range": "Thời gian gia hạn phải từ 0 đến {max_s} giây.",
                "input.unknown": "Bộ điều khiển không nhận lệnh “{input}”.",
                "input.malformed": "Lệnh “{input}” không hợp lệ: {problem}.",
                "input.malformed_unit": "Tín hiệu “{input}” từ thiết bị không hợp lệ: {problem}.",
                "core.internal": "Lỗi nội bộ của bộ điều khiển: {error}.",
                "auth.token_missing": "Cần có mã truy cập (bearer token).",
                "auth.token_invalid": "Mã truy cập không hợp lệ.",
                "auth.role_forbidden": (
                    "Vai trò {role} không được làm việc này (được phép: {allowed})."
                ),
                "request.bad_length": "Content-Length không phải là một số.",
                "request.too_large": "Nội dung yêu cầu lớn hơn {max_bytes} byte.",
                "request.body_not_json": "Nội dung yêu cầu không phải là JSON hợp lệ.",
                "request.field_missing": "Thiếu trường “{field}”.",
                "request.field_unknown": "Không có trường “{field}”.",
                "request.field_type": "Trường “{field}” phải là {expected}.",
                "request.field_too_long": "Trường “{field}” dài quá {max} ký tự hoặc phần tử.",
                "request.field_too_short": "Trường “{field}” cần ít nhất {min} ký tự hoặc phần tử.",
                "request.field_at_least": "Trường “{field}” phải lớn hơn hoặc bằng {limit}.",
                "request.field_at_most": "Trường “{field}” phải nhỏ hơn hoặc bằng {limit}.",
                "request.field_above": "Trường “{field}” phải lớn hơn {limit}.",
                "request.field_below": "Trường “{field}” phải nhỏ hơn {limit}.",
                "request.field_choice": (
                    "Trường “{field}” phải là một trong các giá trị: {expected}."
                ),
                "request.field_pattern": (
                    "Giá trị của trường “{field}” không đúng dạng cho phép ({pattern})."
                ),
                "request.field_invalid": "Giá trị của trường “{field}” không hợp lệ ({message}).",
                "http.not_found": "Không có địa chỉ {path}.",
                "http.method_not_allowed": "Địa chỉ này không nhận phương thức {method}.",
                "http.error": "Yêu cầu không thực hiện được (HTTP {status}): {message}.",
                "fault.not_found": "Danh sách sự cố không có sự cố {fault}.",
                "unit.not_found": "Đường {line} không có thiết bị địa chỉ {address}.",
                "commission.line_not_found": "Hội trường không có đường truyền {line}.",
                "commission.not_serial": (
                    "Đường {line} không phải đường truyền nối tiếp: không có gì để nghiệm thu."
                ),
                "commission.vote_open": (
                    "Đang có cuộc biểu quyết: không thể nghiệm thu đường {line} lúc này."
                ),
                "commission.attendance_open": (
                    "Đang điểm danh: không thể nghiệm thu đường {line} lúc này."
                ),
                "commission.line_released": (
                    "Đường {line} đang được nghiệm thu: chưa thể mở biểu quyết hay điểm danh."
                ),
                "commission.busy": "Đường {line} đang được nghiệm thu: hãy chờ bước đang chạy.",
                "commission.no_scan": "Đường {line} chưa được dò: hãy dò trước.",
                "commission.unsettled": (
                    "Đường {line} còn {units} thiết bị chưa có địa chỉ riêng: hãy cấp địa chỉ"
                    " trước."
                ),
                "commission.no_hall_file": "Máy chủ không được khởi động từ một tệp hội trường.",
                "commission.failed": "Nghiệm thu đường {line} không thành: {reason}.",
                "identify.not_supported": (
                    "Thiết bị {address} trên đường {line} (ghế {seat}) theo phiên bản giao thức"
                    " {contract}, không có lệnh nhận diện: cần phiên bản {needed}."
                ),
                "identify.line_not_supported": (
                    "Các thiết bị trên đường {line} không có lệnh nhận diện."
                ),
                "identify.offline": (
                    "Thiết bị {address} trên đường {line} (ghế {seat}) không trả lời:"
                    " không thể nhận diện."
                ),
                "identify.no_reply": (
                    "Thiết bị {address} trên đường {line} không trả lời lệnh nhận diện."
                ),
                "identify.refused": (
                    "Thiết bị {address} trên đường {line} (ghế {seat}) từ chối lệnh nhận diện:"
                    " {reason}."
                ),
                "journal.unreadable": "Không đọc được nhật ký: {reason}.",
                "export.no_sitting": "Nhật ký chưa ghi kỳ họp nào.",
                "export.sitting_not_found": "Nhật ký không có kỳ họp {sitting}.",
                "export.vote_not_closed": "Nhật ký không có biểu quyết {vote} đã kết thúc.",
                "export.failed": "Không xuất được dữ liệu: {reason}.",
                "signing.key_unusable": "Không dùng được khóa ký của phòng họp.",
                "internal.error": "Lỗi nội bộ của bộ điều khiển ({error}).",
                UNKNOWN: "Bộ điều khiển từ chối lệnh (mã {code}).",
            }
        ),
        Language.EN: MappingProxyType(
            {
                "sitting.not_open": "no sitting is open",
                "sitting.already_open": "sitting {sitting} is open; close it first",
                "sitting.already_held": "sitting {sitting} was already held",
                "sitting.id_missing": "a sitting needs an id",
                "sitting.none_held": "no sitting has been held",
                "sitting.not_found": "no sitting {sitting}",
                "sitting.file_invalid": "the sitting file cannot be used: {problem}",
                "sitting.file_mismatch": (
                    "sitting {sitting} is open with another agenda than the file's; close it "
                    "first, or make the file agree"
                ),
                "agenda.item_not_found": "no agenda item {item}",
                "agenda.ids_invalid": "agenda item ids must be unique and not empty",
                "seat.not_found": "no seat {seat}",
                "seat.no_delegate": "seat {seat} has no delegate",
                "seat.no_microphone": "seat {seat} has no microphone",
                "seat.occupied": "seat {seat} has a delegate: move only to a spare seat",
                "seat.no_keypad": "seat {seat} has no voting keypad",
                "seat.move_same": "the delegate already sits at seat {seat}",
                "seat.reason_missing": "a reason is needed for the record",
                "seat.reason_too_long": "the reason is longer than {max} characters",
                "attendance.registration_open": "an attendance registration is already open",
                "attendance.registration_not_open": "no attendance registration is open",
                "vote.not_found": "no vote {vote} in this sitting",
                "vote.exists": "vote {vote} already exists",
                "vote.id_missing": "a vote needs an id",
                "vote.title_missing": "a vote needs a title",
                "vote.choices_count": "a choices vote needs {min}..{max} options, not {count}",
                "vote.choices_invalid": "options must be distinct and not empty",
                "vote.choices_unexpected": "a {answers} vote takes no options",
                "vote.time_negative": "times cannot be negative",
                "vote.duration_too_long": "a vote lasts at most {max_s} s (0: no time limit)",
                "vote.warning_after_end": (
                    "the warning ({warning_s} s) must come before the end ({duration_s} s)"
                ),
                "vote.wrong_state": "vote {vote} is {state}: cannot {command} it",
                "vote.active": "vote {vote} is {state}",
                "vote.another_active": "vote {vote} is {state}; close it first",
                "vote.not_amendable": "vote {vote} is {state}: cannot change it",
                "vote.not_changeable": "vote {vote} cannot be changed now",
                "vote.no_quorum": "no quorum: {present} members present, {required} needed",
                "vote.none_prepared": "no prepared vote is left to open",
                "vote.rerun_not_annulled": (
                    "vote {vote} is {state}: only an annulled vote is run again"
                ),
                "vote.rerun_done": "vote {vote} was already run again as {rerun}",
                "vote.annul_not_closed": "vote {vote} must be closed before annulled",
                "vote.annul_reason_missing": "annulling a vote needs a reason",
                "vote.annul_reason_too_long": "the reason is longer than {max} characters",
                "vote.manual_weighted": "vote {vote} is weighted: a count by hand has no weights",
                "vote.manual_answers": "vote {vote} has {keys} answers, not {count}",
                "vote.manual_negative": "a count cannot be negative",
                "vote.manual_present_range": (
                    "{present} members present, but the hall has {entitled} voting members"
                ),
                "vote.manual_too_many": (
                    "{voted} votes counted, but only {present} members are present"
                ),
                "vote.not_closed_secret": "vote {vote} is not a closed secret vote",
                "vote.totals_keys": "vote {vote}: totals do not fit its keys",
                "vote.totals_participants": "vote {vote}: totals and participants differ",
                "vote.weighted_totals": "vote {vote}: weighted totals do not fit",
                "rule.not_found": "no majority rule named {rule}",
                "rule.threshold_range": "threshold fraction {fraction} not in 0..1",
                "floor.already_speaking": "seat {seat} already has the floor",
                "floor.already_waiting": "seat {seat} is already on the {list} list",
                "floor.lists_full": "the speakers' lists are full ({max})",
                "floor.nobody_waiting": "nobody is waiting",
                "floor.at_cap": (
                    "{max} delegate microphones are open already: hand over (next) or close one"
                ),
                "floor.nobody_waiting_on_list": "nobody is waiting on the {list} list",
                "floor.not_speaking_or_waiting": "seat {seat} neither speaks nor waits",
                "floor.not_speaking": "seat {seat} does not have the floor",
                "floor.untimed": "seat {seat} speaks without a time limit",
                "floor.cap_range": "max_open must be {min}..{max}",
                "floor.speaking_time_range": "speaking time must be 0..{max_s} s",
                "floor.extension_range": "an extension must be 0..{max_s} s",
                "input.unknown": "the meeting core does not take {input}",
                "input.malformed": "malformed {input}: {problem}",
                "input.malformed_unit": "malformed {input} from a unit: {problem}",
                "core.internal": "internal error: {error}",
                "auth.token_missing": "a bearer token is required",
                "auth.token_invalid": "the token is not valid",
                "auth.role_forbidden": "role {role} may not do this (allowed: {allowed})",
                "request.bad_length": "Content-Length is not a number",
                "request.too_large": "the request body is larger than {max_bytes} bytes",
                "request.body_not_json": "the request body is not valid JSON",
                "request.field_missing": "{field}: field required",
                "request.field_unknown": "{field}: no such field",
                "request.field_type": "{field}: expected {expected}",
                "request.field_too_long": "{field}: at most {max} characters or items",
                "request.field_too_short": "{field}: at least {min} characters or items",
                "request.field_at_least": "{field}: must be at least {limit}",
                "request.field_at_most": "{field}: must be at most {limit}",
                "request.field_above": "{field}: must be greater than {limit}",
                "request.field_below": "{field}: must be less than {limit}",
                "request.field_choice": "{field}: expected one of {expected}",
                "request.field_pattern": "{field}: does not match the pattern {pattern}",
                "request.field_invalid": "{field}: {message}",
                "http.not_found": "no resource at {path}",
                "http.method_not_allowed": "{method} is not allowed here",
                "http.error": "the request failed (HTTP {status}): {message}",
                "fault.not_found": "no fault {fault} in the list",
                "unit.not_found": "no unit {address} on line {line}",
                "commission.line_not_found": "the hall has no line {line}",
                "commission.not_serial": "line {line} is not a serial line: nothing to commission",
                "commission.vote_open": "a vote is open: line {line} cannot be commissioned now",
                "commission.attendance_open": (
                    "attendance is open: line {line} cannot be commissioned now"
                ),
                "commission.line_released": (
                    "line {line} is being commissioned: no vote or attendance can open yet"
                ),
                "commission.busy": ("line {line} is being commissioned: wait for the running step"),
                "commission.no_scan": "line {line} has not been scanned: scan it first",
                "commission.unsettled": (
                    "line {line} still has {units} unit(s) without an address of their own:"
                    " assign addresses first"
                ),
                "commission.no_hall_file": "the daemon was not started from a hall file",
                "commission.failed": "commissioning line {line} failed: {reason}",
                "identify.not_supported": (
                    "unit {address} on line {line} (seat {seat}) speaks contract {contract},"
                    " which has no identify: it needs {needed}"
                ),
                "identify.line_not_supported": (
                    "the units on line {line} cannot identify themselves"
                ),
                "identify.offline": (
                    "unit {address} on line {line} (seat {seat}) does not answer: it cannot"
                    " identify itself"
                ),
                "identify.no_reply": "unit {address} on line {line} did not answer the identify",
                "identify.refused": (
                    "unit {address} on line {line} (seat {seat}) refused to identify itself:"
                    " {reason}"
                ),
                "journal.unreadable": "the journal cannot be read: {reason}",
                "export.no_sitting": "the journal holds no sitting",
                "export.sitting_not_found": "no sitting {sitting} in the journal",
                "export.vote_not_closed": "no closed vote {vote} in the journal",
                "export.failed": "the export cannot be made: {reason}",
                "signing.key_unusable": "the hall's signing key cannot be used",
                "internal.error": "internal error ({error})",
                UNKNOWN: "the controller refused the command (code {code})",
            }
        ),
    }
)

# Words a parameter of a word type stands for, per language; a value not listed is shown as it is.
PARAM_WORDS: Mapping[Language, Mapping[ParamType, Mapping[str, str]]] = MappingProxyType(
    {
        Language.VI: {
            ParamType.VOTE_STATE: {
                "prepared": "đã chuẩn bị",
                "open": "đang biểu quyết",
                "hold": "tạm dừng",
                "closed": "đã kết thúc",
                "published": "đã công bố",
                "cancelled": "đã hủy",
                "annulled": "kết quả đã bị hủy",
            },
            ParamType.VOTE_COMMAND: {
                "open": "mở",
                "hold": "tạm dừng",
                "resume": "tiếp tục",
                "close": "kết thúc",
                "cancel": "hủy",
                "publish": "công bố kết quả",
                "annul": "hủy kết quả",
                "manual": "nhập kết quả kiểm phiếu thủ công cho",
            },
            ParamType.SPEAKER_LIST: {
                "speak": "đăng ký phát biểu",
                "question": "đăng ký chất vấn",
                "reply": "đăng ký tranh luận",
            },
            ParamType.ANSWER_SET: {
                "yes-no-abstain": "tán thành / không tán thành / không biểu quyết",
                "yes-no": "tán thành / không tán thành",
                "choices": "theo phương án",
            },
            ParamType.ROLE: {
                "chair": "chủ tọa",
                "secretary": "thư ký",
                "technician": "kỹ thuật viên",
                "observer": "quan sát viên",
            },
            ParamType.VALUE_TYPE: {
                "integer": "một số nguyên",
                "number": "một số",
                "text": "một chuỗi ký tự",
                "boolean": "đúng hoặc sai (true/false)",
                "object": "một đối tượng JSON",
                "list": "một danh sách",
            },
        },
        Language.EN: {
            ParamType.VOTE_COMMAND: {"manual": "enter a count by hand for"},
            ParamType.SPEAKER_LIST: {},
            ParamType.ANSWER_SET: {},
            ParamType.ROLE: {},
            ParamType.VALUE_TYPE: {
                "integer": "an integer",
                "number": "a number",
                "text": "a string",
                "boolean": "true or false",
                "object": "a JSON object",
                "list": "a list",
            },
        },
    }
)

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def placeholders(template: str) -> tuple[str, ...]:
    """The parameter names `template` uses, in order."""
    return tuple(_PLACEHOLDER.findall(template))


def _number(language: Language, value: float) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if language is Language.VI else text


def param_text(language: Language, kind: ParamType | None, value: object) -> str:
    """One parameter as the sentence shows it; never fails, whatever `value` is."""
    try:
        if isinstance(value, bool) or value is None:
            return str(value).lower()
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return str(value)
            if value.is_integer() and abs(value) < 1e15:
                return str(int(value))
            return _number(language, value)
        text = str(value)
        if kind is ParamType.ROLES:
            roles = PARAM_WORDS[language].get(ParamType.ROLE, {})
            return ", ".join(roles.get(r.strip(), r.strip()) for r in text.split(","))
        if kind is not None:
            words = PARAM_WORDS[language].get(kind, {})
            return words.get(text, text)
        return text
    except Exception:  # a value whose str() fails: shown by its type
        return f"<{type(value).__name__}>"


def refusal_text(language: Language, code: str, params: Mapping[str, object]) -> str:
    """The sentence of refusal `code` with `params` in `language`. Never raises: a missing
    parameter shows as "?", an unknown code as a generic sentence that names the code."""
    texts = REFUSAL_TEXTS[language]
    template = texts.get(code)
    spec = REFUSALS.get(code)
    if template is None or spec is None:
        return texts[UNKNOWN].replace("{code}", param_text(language, None, code))
    types = spec.params

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            return "?"
        return param_text(language, types.get(name), params[name])

    return _PLACEHOLDER.sub(fill, template)
